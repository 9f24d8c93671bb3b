"""Reading untrusted image files safely: the one image decoder of the gateway and the worker.

What comes in may be anything — a truncated PNG, a TIFF renamed to .png, a 50,000 x 50,000
"decompression bomb" that is 40 KB on disk. So:

- only PNG, JPEG, WebP and GIF are opened (Pillow tries no other parsers);
- the pixel count is read from the header and checked *before* any pixels are decoded;
- Pillow's own decompression-bomb check uses the same, lowered limit, and its warning is
  an error here rather than a line in a log;
- a damaged file is a :class:`InvalidImage` with a plain message, never a crash.

The gateway calls :func:`probe` (header only) to refuse bad uploads early; the worker calls
:func:`decode` to get pixels. Both raise :class:`ImageError` subclasses whose messages can
be shown to the person who sent the file.

For the drawings the page sends (8-bit PNGs without transparency tables or orientation),
the worker has a faster decoder (libspng, :func:`services.worker.preprocess.digit_pixels`);
:func:`plain_png` says which files it may take — those whose pixels both decoders read
alike — and everything else, including every damaged file, comes here.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

#: The formats anyone may send, as Pillow names them.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
#: 16.8 megapixels (4096 x 4096): more than any phone photo, far below Pillow's 89 MP default.
DEFAULT_MAX_PIXELS = 4096 * 4096

# Pillow warns above MAX_IMAGE_PIXELS and refuses above twice that; make both an error at
# our limit. Both services are separate processes, so this process-wide setting is theirs.
Image.MAX_IMAGE_PIXELS = DEFAULT_MAX_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

# Magic numbers of formats people commonly send by mistake, to name them in the answer.
_OTHER_FORMATS = (
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"<svg", "SVG"),
    (b"<?xml", "SVG/XML"),
)


class ImageError(ValueError):
    """The bytes are not an image we accept; the message says why in plain words."""


class InvalidImage(ImageError):
    """Not a readable image: empty, damaged, truncated, or not an image at all."""


class UnsupportedImageFormat(ImageError):
    """A real image, but in a format other than PNG, JPEG, WebP or GIF."""


class ImageTooLarge(ImageError):
    """More pixels than the limit (a photo too big, or a decompression bomb)."""


@dataclass(frozen=True)
class ImageInfo:
    """What an image header says: Pillow's format name and the size in pixels."""

    format: str
    width: int
    height: int


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: PNG colour types by the mode Pillow decodes them to: grey, RGB, RGBA (8 bits each).
PLAIN_PNG_MODES = {0: "L", 2: "RGB", 6: "RGBA"}
# Chunks that change no pixel in Pillow's decoding nor in libspng's (colour-space and
# gamma information are recorded, never applied; text, time, physical size, histogram).
# tRNS (a transparent colour), PLTE, eXIf (orientation, applied by decode), text that
# Pillow reads as EXIF, and animation chunks are not among them: such files take the
# general path.
_PLAIN_CHUNKS = frozenset((b"IDAT", b"IEND", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT",
                           b"pHYs", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"bKGD", b"hIST"))
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_EXIF_KEYWORDS = (b"exif", b"raw profile type exif")  # Pillow's getexif() reads these


def png_pixel_count(data: bytes) -> int | None:
    """Width x height from a PNG's header, without reading further; None if ``data`` does
    not start like a PNG file."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width * height


@dataclass(frozen=True)
class PlainPNG:
    """A plain PNG taken apart (:func:`plain_png`)."""

    width: int
    height: int
    mode: str  #: "L", "RGB" or "RGBA"
    header: bytes  #: the signature and the IHDR chunk, as in the file
    data: bytes  #: the zlib stream of the image data (every IDAT chunk's, joined)


def plain_png(data: bytes) -> PlainPNG | None:
    """``data`` taken apart if it is a *plain* PNG — 8-bit grey, RGB or RGBA, not
    interlaced, within the pixel limit, every chunk whole with a correct CRC (image data;
    for the others, the chunk type), and none that changes a pixel (see ``_PLAIN_CHUNKS``)
    — else None. The image data is not inflated."""
    if png_pixel_count(data) is None or len(data) < 33:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack_from(
        ">IIBBBBB", data, 16)
    mode = PLAIN_PNG_MODES.get(colour)
    if (mode is None or depth != 8 or (compression, filtering, interlace) != (0, 0, 0)
            or not 1 <= width * height <= Image.MAX_IMAGE_PIXELS
            or struct.unpack_from(">I", data, 8)[0] != 13):
        return None
    position, end, idat = 33, len(data), []
    while position + 12 <= end:
        length, kind = struct.unpack_from(">I4s", data, position)
        body = position + 8
        position = body + length + 4
        if kind not in _PLAIN_CHUNKS or position > end:
            return None
        if kind == b"IDAT":
            chunk = data[body:body + length]
            (crc,) = struct.unpack_from(">I", data, body + length)
            if zlib.crc32(chunk, zlib.crc32(kind)) != crc:
                return None
            idat.append(chunk)
        elif kind in _TEXT_CHUNKS:
            keyword = data[body:body + min(length, 80)].split(b"\0")[0]
            if keyword.lower() in _EXIF_KEYWORDS:
                return None
        elif kind == b"IEND":
            if not idat or position != end:
                return None
            return PlainPNG(width, height, mode, data[:33],
                            idat[0] if len(idat) == 1 else b"".join(idat))
    return None


def set_max_pixels(max_pixels: int) -> None:
    """Set the pixel limit for this process (each service calls it once with its setting)."""
    if max_pixels < 1:
        raise ValueError(f"max_pixels must be positive, got {max_pixels}")
    Image.MAX_IMAGE_PIXELS = max_pixels


def _open(data: bytes) -> Image.Image:
    if not data:
        raise InvalidImage("the image is empty (0 bytes)")
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except UnidentifiedImageError:
        head = data[:16].lstrip()
        for magic, name in _OTHER_FORMATS:
            if head.startswith(magic):
                raise UnsupportedImageFormat(
                    f"{name} images are not supported; send a PNG, JPEG, WebP or GIF file"
                ) from None
        raise InvalidImage(
            "the data is not a PNG, JPEG, WebP or GIF image (it could not be read as one)"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InvalidImage(f"the image header is damaged ({e})") from None


def _too_many_pixels() -> ImageTooLarge:
    limit = Image.MAX_IMAGE_PIXELS
    return ImageTooLarge(
        f"the image has too many pixels (a possible decompression bomb); the limit is "
        f"{limit:,} pixels ({limit / 1e6:.1f} megapixels)"
    )


def _check_size(im: Image.Image) -> None:
    width, height = im.size
    limit = Image.MAX_IMAGE_PIXELS
    if width < 1 or height < 1:
        raise InvalidImage(f"the image has no pixels ({width}x{height})")
    if width * height > limit:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"the limit is {limit / 1e6:.1f} megapixels"
        )


def probe(data: bytes) -> ImageInfo:
    """Format and size from the header of ``data``, without decoding any pixels."""
    with _open(data) as im:
        _check_size(im)
        return ImageInfo(im.format, im.width, im.height)


def decode(data: bytes, mode: str, draft_size: tuple[int, int] | None = None) -> Image.Image:
    """Decode the (first frame of the) image in ``data`` into Pillow ``mode`` (e.g. "RGB").

    Args:
        data: the file's bytes.
        mode: the mode of the returned image: "RGB", "L", "RGBA", ...
        draft_size: for JPEG, let the decoder scale down by a power of two while staying
            at least this size (much faster for big photos that will be shrunk anyway).

    The photo's EXIF orientation is applied, so a portrait phone photo is upright.
    """
    source = _open(data)
    try:
        _check_size(source)
        if draft_size is not None and source.format == "JPEG":
            source.draft("RGB", draft_size)
        source.load()
        im = ImageOps.exif_transpose(source)
        if im.mode in ("P", "LA", "PA", "RGBA", "La") and mode in ("RGB", "L"):
            # Transparent pixels become white (paper), not whatever colour they store.
            im = im.convert("RGBA")
            background = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(background, im)
        return im.convert(mode)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels() from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise InvalidImage(f"the image file is damaged or truncated ({e})") from None
    finally:
        source.close()

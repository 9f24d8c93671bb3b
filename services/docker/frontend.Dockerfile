# The frontend image: nginx serving the static page (services/frontend/) on 8080, with
# services/docker/nginx.conf, which proxies nothing. Build from the repository root:
#
#   docker build -f services/docker/frontend.Dockerfile -t simpledl/frontend:0.1.0 .
#   minikube image build -f services/docker/frontend.Dockerfile -t simpledl/frontend:0.1.0 .
#   make images                     (all four images: Docker if a daemon answers, else buildah)
#
# Base: Debian 12 slim with Debian's own nginx package. Debian, not Alpine: it is the nginx
# build tests/test_frontend_nginx.py runs this very config with, the Python images are
# Debian too (one distribution to patch), and a Debian base can be made as a local
# stand-in by scripts/stand_in_base_images.py on a machine that reaches Debian's archive
# but no container registry; Alpine's packages and images cannot be fetched there.
#
# Two stages: the first assembles the page and the config, world-readable (a checkout
# with umask 077 has files only root could read; nginx runs as UID 10001); the second is
# Debian + nginx with just those files. The page needs no build step. The config is
# complete as copied, and the root file system is read-only at run time: nginx writes
# only to /tmp (pid, temporary files) and logs to stdout/stderr.

FROM debian:12.12-slim AS build

COPY services/docker/nginx.conf /site/nginx.conf
COPY services/frontend /site/html
RUN chmod -R a+rX,go-w /site


FROM debian:12.12-slim AS runtime

# Debian's security updates replace the exact version in the archive, so the pin is the
# release (1.22.1-9, Debian 12) with any of its security updates (+deb12uN).
# The package's default site, web root and log files are removed: nginx.conf replaces them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends "nginx=1.22.1-9*" \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-* /etc/nginx/conf.d /var/www \
       /var/log/nginx/* /usr/share/nginx/html \
    && groupadd --system --gid 10001 simpledl \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin simpledl

COPY --from=build /site/nginx.conf /etc/nginx/nginx.conf
COPY --from=build /site/html /usr/share/nginx/html

LABEL org.opencontainers.image.title="simpledl frontend" \
      org.opencontainers.image.description="The simpledl page (draw a digit, show a cat), served by Debian's nginx on 8080"

USER 10001:10001
EXPOSE 8080

# For docker run / Compose; Kubernetes uses the probes in k8s/base/frontend.yaml instead.
# No curl or wget in the image: bash asks nginx over a /dev/tcp socket.
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]

# nginx's graceful stop (SIGTERM would drop requests in flight).
STOPSIGNAL SIGQUIT
ENTRYPOINT ["nginx", "-e", "stderr"]
CMD ["-g", "daemon off;"]

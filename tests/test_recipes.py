"""Recipes: the registry, no import cycles, the old import paths, and the cat recipe reaching
the reference accuracy."""

import ast
from pathlib import Path

import numpy as np
import pytest

from dlcore.io import load_model
from dlcore.recipes import (
    CAT_LAYER_DIMS,
    RECIPES,
    build_cat_model,
    get_recipe,
    train_cats,
)

REPO = Path(__file__).resolve().parents[1]


def test_registry():
    assert RECIPES["cats"].model_name == "cat" and RECIPES["cats"].train is train_cats
    assert list(RECIPES) == ["cats", "digits-mlp", "digits-cnn"]  # the order of `make models`
    assert RECIPES["cats"].description.startswith("Cat vs non-cat: 12288-20-7-5-1")
    with pytest.raises(ValueError, match="unknown recipe 'dogs'; known: .*cats"):
        get_recipe("dogs")


# -- no module imports a module that imports it back -----------------------------------------


def module_imports(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}``, read from the source (every import
    statement, also those inside functions). ``from a import b`` counts as importing
    ``a.b`` when that is a module, else ``a``. A parent package is not counted for its
    submodules: ``import a.b`` runs ``a/__init__.py`` first, but Python resolves that
    without a cycle as long as ``a/__init__.py`` does not need ``a.b`` back."""
    files = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    graph = {}
    for name, path in files.items():
        package_parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in files)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative import
                    parent = package_parts[: len(package_parts) - node.level + 1]
                    base = ".".join([*parent, *([base] if base else [])])
                for alias in node.names:
                    target = f"{base}.{alias.name}"
                    found.add(target if target in files else base)
        graph[name] = {m for m in found if m in files and m != name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle found by a depth-first walk, each as the modules along it."""
    cycles, state = [], {}  # state: 1 = on the current path, 2 = done

    def visit(module, path):
        state[module] = 1
        for imported in sorted(graph[module]):
            if state.get(imported) == 1:
                cycles.append([*path[path.index(imported):], imported])
            elif imported not in state:
                visit(imported, [*path, imported])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    return cycles


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from .sub import c\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "c.py").write_text("import pkg.a\n")
    cycles = import_cycles(module_imports(tmp_path, "pkg"))
    assert cycles == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]


@pytest.mark.parametrize("package", ["dlcore", "services"])
def test_no_module_imports_a_module_that_imports_it_back(package):
    graph = module_imports(REPO, package)
    assert len(graph) > 10 and any(graph.values())  # the walk read the package
    assert import_cycles(graph) == []


def test_the_registry_imports_the_recipes_never_the_reverse():
    graph = module_imports(REPO, "dlcore")
    assert {"dlcore.recipes.cats", "dlcore.recipes.digits"} <= graph["dlcore.recipes"]
    for module in ("dlcore.recipes.base", "dlcore.recipes.cats", "dlcore.recipes.digits"):
        assert "dlcore.recipes" not in graph[module], module


# -- the package's names ----------------------------------------------------------------------


def test_the_package_offers_the_cat_recipe_and_its_settings():
    from dlcore.recipes import CAT_INPUT, CAT_LEARNING_RATE, CAT_SEED, CAT_STEPS, cats

    assert (CAT_LEARNING_RATE, CAT_SEED, CAT_STEPS) == (0.0075, 2, 2500)
    assert CAT_INPUT is cats.CAT_INPUT and train_cats is cats.train_cats


def test_each_layout_conversion_has_one_home():
    import dlcore.data
    import dlcore.recipes.digits

    for name in ("flatten_images", "one_hot"):
        assert not hasattr(dlcore.data, name), f"dlcore.data.{name}: its home is dlcore.layout"
    assert not hasattr(dlcore.recipes.digits, "as_columns") or (
        dlcore.recipes.digits.as_columns.__module__ == "dlcore.layout"
    )


# -- the cat recipe -----------------------------------------------------------------------------


def test_cat_model_architecture():
    model = build_cat_model(seed=0)
    dims = [(layer.n_in, layer.n_out, layer.activation) for layer in model.layers]
    assert dims == [(12288, 20, "relu"), (20, 7, "relu"), (7, 5, "relu"), (5, 1, "sigmoid")]
    assert tuple(d[0] for d in dims) + (1,) == CAT_LAYER_DIMS
    assert model.dtype == np.float32
    np.testing.assert_array_equal(
        build_cat_model(seed=0).layers[0].params["W"], model.layers[0].params["W"]
    )


def test_a_short_cat_run_writes_its_task_and_shows_progress(capsys):
    result = train_cats(steps=3, progress=True)
    assert result.card["task"] == "cat" and result.card["training"]["steps"] == 3
    assert len(result.history["cost"]) == 3
    err = capsys.readouterr().err
    assert "training: 100%" in err and "3/3" in err
    train_cats(steps=3)  # progress is off unless asked for
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_cat_recipe_reaches_the_reference_accuracy(tmp_path):
    from dlcore.io import save_model

    result = train_cats()
    assert result.metrics["train_accuracy"] >= 0.98, result.metrics
    assert result.metrics["test_accuracy"] >= 0.78, result.metrics
    assert len(result.history["cost"]) == 2500
    assert result.history["cost"][-1] < result.history["cost"][0] / 4
    npz, _ = save_model(result.model, tmp_path / "cat", metrics=result.metrics, **result.card)
    loaded = load_model(npz)
    assert loaded.card["classes"] == ["non-cat", "cat"]
    assert loaded.card["input"]["shape"] == [12288]
    assert loaded.card["task"] == "cat"

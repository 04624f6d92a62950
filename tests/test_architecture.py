"""The layering of docs/ARCHITECTURE.md, checked on the source: who may import whom, and size."""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "payments"
MAX_LINES = 400
# Modules allowed over the limit for now. It is empty: keep it so.
OVER_MAX_LINES_FOR_NOW: set[str] = set()
# The front doors: each calls services and selectors, none calls another.
FRONT_DOORS = (
    "payments.views",
    "payments.admin",
    "payments.api",
    "payments.management",
    "payments.hostcommands",
    "payments.webhooks",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the payments package but its migrations, by dotted name."""
    return {
        module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.relative_to(PACKAGE).parts
    }


@cache
def imports_of(name: str) -> frozenset[str]:
    """Every payments module a module imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(modules()[name].read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{name}: relative import; import payments.… by full name"
            found.add(node.module)
            # "from payments import crypto" imports payments.crypto.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return frozenset(imported for imported in found if imported.startswith("payments."))


def within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def offenders(importer: str, forbidden: tuple[str, ...]) -> list[str]:
    """Each `module -> import` where a module of `importer` imports one of `forbidden`."""
    return sorted(
        f"{name} -> {imported}"
        for name in modules()
        if within(name, importer)
        for imported in imports_of(name)
        if any(within(imported, package) for package in forbidden)
    )


def test_architecture_finds_the_layers():
    """The checks below mean nothing if the walk misses the packages they are about."""
    names = set(modules())
    for package in ("payments.models", "payments.selectors", "payments.services", "payments.vcc"):
        assert package in names
    assert "payments.views.promotions" in names
    assert "payments.services.launches" in imports_of("payments.services")


def test_architecture_every_module_imports_payments_by_full_name():
    """Relative imports hide which layer a module reaches into; imports_of refuses them."""
    assert all(imports_of(name) is not None for name in modules())


def test_architecture_models_import_no_layer_above_them():
    """Models may read VCC's region table (plain data), never the client or the emulator."""
    found = offenders(
        "payments.models",
        ("payments.selectors", "payments.services", "payments.forms", "payments.vcc", *FRONT_DOORS),
    )
    assert [
        item for item in found if not within(item.split(" -> ")[1], "payments.vcc.regions")
    ] == []
    assert imports_of("payments.vcc.regions") == frozenset()


def test_architecture_selectors_only_read():
    """Selectors never call the writers, nor anything that faces a user or VCC."""
    forbidden = ("payments.services", "payments.forms", "payments.vcc", *FRONT_DOORS)
    assert offenders("payments.selectors", forbidden) == []


def test_architecture_services_know_no_front_door():
    assert offenders("payments.services", ("payments.forms", *FRONT_DOORS)) == []


def test_architecture_forms_know_no_front_door():
    assert offenders("payments.forms", FRONT_DOORS) == []


@pytest.mark.parametrize("door", FRONT_DOORS)
def test_architecture_front_doors_do_not_call_each_other(door):
    others = tuple(other for other in FRONT_DOORS if other != door)
    assert offenders(door, others) == []


def test_architecture_leaf_modules_import_nothing_of_payments():
    """Redaction and crypto are used by every layer, the VCC package included."""
    assert offenders("payments.redaction", ("payments",)) == []
    assert offenders("payments.crypto", ("payments",)) == []
    log_filters_imports = imports_of("payments.log_filters")
    assert log_filters_imports and all(
        within(imported, "payments.redaction") for imported in log_filters_imports
    )


def test_architecture_vcc_package_stands_alone():
    """The VCC client and its emulator take plain settings, not the registry's models."""
    allowed = ("payments.vcc", "payments.crypto", "payments.redaction")
    outside = sorted(
        f"{name} -> {imported}"
        for name in modules()
        if within(name, "payments.vcc")
        for imported in imports_of(name)
        if not any(within(imported, package) for package in allowed)
    )
    assert outside == []


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def test_architecture_no_module_over_400_lines():
    too_long = sorted(
        f"{path.relative_to(ROOT)}: {line_count(path)} lines"
        for path in modules().values()
        if line_count(path) > MAX_LINES
        and str(path.relative_to(ROOT)) not in OVER_MAX_LINES_FOR_NOW
    )
    assert too_long == []


def test_architecture_allow_list_holds_only_modules_still_over_400_lines():
    """Once a module is split, its entry in OVER_MAX_LINES_FOR_NOW must go."""
    stale = sorted(
        name
        for name in OVER_MAX_LINES_FOR_NOW
        if not (ROOT / name).exists() or line_count(ROOT / name) <= MAX_LINES
    )
    assert stale == []


def test_no_template_extends_a_template_of_its_own_name():
    """An override that extends the template it replaces ({% extends "admin/base_site.html" %}
    in admin/base_site.html) made every admin page 10 ms slower (docs/PERFORMANCE.md): extend
    the template underneath it instead."""
    import re

    extends = re.compile(r"""{%\s*extends\s+["']([^"']+)["']""")
    templates = ROOT / "templates"
    selves = [
        str(path.relative_to(templates))
        for path in templates.rglob("*.html")
        if (match := extends.search(path.read_text()))
        and match.group(1) == str(path.relative_to(templates))
    ]
    assert len(list(templates.rglob("*.html"))) > 10
    assert selves == []


def test_the_admin_base_site_copy_keeps_every_block_of_djangos():
    """templates/admin/base_site.html is Django's admin/base_site.html copied (the documented way
    to brand the admin) plus the product's blocks; after a Django upgrade a block Django adds
    there must be copied too, or the admin loses it."""
    import re

    import django

    block = re.compile(r"{%\s*block\s+([\w-]+)")
    extends = re.compile(r"""{%\s*extends\s+["']([^"']+)["']""")
    django_admin = Path(django.__file__).parent / "contrib/admin/templates/admin/base_site.html"
    theirs, ours = django_admin.read_text(), (ROOT / "templates/admin/base_site.html").read_text()
    assert set(block.findall(theirs)) <= set(block.findall(ours))
    assert extends.search(ours).group(1) == extends.search(theirs).group(1) == "admin/base.html"

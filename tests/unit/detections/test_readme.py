from tests.helpers import ROOT
from tests.unit.detections.readme_table import catalog_table


def test_readme_lists_the_catalog_as_it_is() -> None:
    assert catalog_table() in (ROOT / "README.md").read_text(encoding="utf-8"), (
        "README's detection table is stale: python -m tests.unit.detections.readme_table"
    )

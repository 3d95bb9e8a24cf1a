"""The Database tab in Chromium: pick a collection, filter, insert, edit, see a unique index
refuse a duplicate, drop with the name typed."""
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_browse_insert_edit_and_the_unique_index_in_the_tab(live, page, app_factory, user_factory, browser_login,
                                                             apps_store):
    owner = user_factory(username="dina")
    app = app_factory(owner=owner, name="Ledger")
    apps_store["app_ledger"]["people"].insert_many(
        [{"name": f"Person {i}", "email": f"p{i}@example.com", "age": 20 + i} for i in range(25)])
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=files")
    page.click(".tabs .tab:has-text('Database')")
    page.click(".db-coll[data-collection='people'] a")
    page.wait_for_selector("#db-range:has-text('1–20 of 25')")
    page.click(".db-pager a:has-text('Next')")
    page.wait_for_selector("#db-range:has-text('21–25 of 25')")

    page.fill(".db-query input[name=filter]", '{"email": {"$regex": "p1"}}')
    page.fill(".db-query input[name=sort]", '{"age": -1}')
    page.click(".db-query button:has-text('Find')")
    page.wait_for_selector("#db-range:has-text('of 11')")
    assert '"Person 19"' in page.locator(".db-doc").first.inner_text()

    page.fill(".db-index-new input[name=keys]", "email:1")
    page.check(".db-index-new input[name=unique]")
    page.click(".db-index-new button")
    page.wait_for_selector("#db-notice:has-text('Created the index')")
    assert "unique" in page.locator(".db-indexes tbody").inner_text()

    page.click(".db-insert > summary")
    page.fill(".db-insert textarea", '{"name": "Copy", "email": "p1@example.com"}')
    page.click(".db-insert button:has-text('Insert')")
    page.wait_for_selector("#db-error:has-text('The database refused a duplicate')")
    assert apps_store["app_ledger"]["people"].count_documents({}) == 25
    page.fill(".db-insert textarea", '{"name": "Zed", "email": "p100@example.com", "at": {"$date": "2024-05-01T00:00:00Z"}}')
    page.click(".db-insert button:has-text('Insert')")
    page.wait_for_selector("#db-notice:has-text('Inserted a document')")
    assert apps_store["app_ledger"]["people"].find_one({"name": "Zed"})["at"].year == 2024

    first = page.locator(".db-doc").first
    first.locator("summary").click()
    editor = first.locator("textarea")
    editor.fill(editor.input_value().replace('"Person 19"', '"Person Nineteen"'))
    first.locator("button:has-text('Save')").click()
    page.wait_for_selector("#db-notice:has-text('Saved the document.')")
    assert apps_store["app_ledger"]["people"].find_one({"email": "p19@example.com"})["name"] == "Person Nineteen"
    shots = Path(os.environ.get("MGX_SCREENSHOT_DIR") or live.layout.var_dir)  # kept for a look when set
    page.screenshot(path=str(shots / "database-tab.png"), full_page=True)

    page.click(".db-drop > summary")
    page.fill(".db-drop input[name=confirm]", "peop")
    page.click(".db-drop button:has-text('Drop people')")
    page.wait_for_selector("#db-error:has-text('to confirm; nothing was dropped')")
    page.click(".db-drop > summary")
    page.fill(".db-drop input[name=confirm]", "people")
    page.click(".db-drop button:has-text('Drop people')")
    page.wait_for_selector("#db-notice:has-text('Dropped the collection')")
    assert "people" not in apps_store["app_ledger"].list_collection_names()

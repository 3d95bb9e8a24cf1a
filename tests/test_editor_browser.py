"""The Files and History tabs in headless Chromium: open, edit, save, see the version; a save
over a newer file shows both side by side and loses nothing; files created from the tree."""
import pytest

from workspaces import selectors, services

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def owner(user_factory):
    return user_factory(username="dana")


@pytest.fixture
def app(app_factory, owner):
    return app_factory(owner=owner, name="Editor Demo")


def open_file(page, live, app, folder, path):
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=files")
    if folder:
        page.click(f".tree-dir summary:has-text('{folder}')")
    page.click(f"a.file-link[data-path='{path}']")
    page.wait_for_selector(".cm-editor .cm-content")


def test_open_edit_save_and_see_the_version_in_history(live, page, app, owner, browser_login):
    browser_login(page, owner)
    open_file(page, live, app, "app", "app/page.tsx")
    assert page.locator("#crumbs").inner_text().replace("\n", "") == "app/page.tsx"
    assert "Editor Demo" in page.locator(".cm-content").inner_text()
    assert page.locator("#dirty").is_hidden()

    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("\nexport const saved = true;")
    assert page.locator("#dirty").is_visible()  # the unsaved marker shows
    page.keyboard.press("Control+s")
    page.wait_for_selector("#save-state:has-text('Saved')")
    assert page.locator("#dirty").is_hidden()
    assert selectors.file_read(app=app, path="app/page.tsx").text.endswith("export const saved = true;")

    page.click("a.tab:has-text('History')")
    page.wait_for_selector(".commit")
    top = page.locator(".commit").first.inner_text()
    assert "Edit app/page.tsx" in top and "dana" in top
    page.locator(".commit-link").first.click()
    page.wait_for_selector(".diff .d-add")
    assert "+export const saved = true;" in page.locator(".diff").inner_text()


def test_a_save_over_a_newer_file_shows_both_and_keeps_the_merge(live, page, app, owner, browser_login):
    # A short file: the editors draw only the lines in view, and the template's README is long.
    services.file_write(app=app, path="README.md", content="# Notes\n", user=owner)
    browser_login(page, owner)
    open_file(page, live, app, None, "README.md")
    page.click(".cm-content")
    page.keyboard.press("Control+End")
    page.keyboard.type("\nline from the browser")

    # Meanwhile the agent rewrites the same file.
    services.file_write(app=app, path="README.md", content="# Rewritten by the agent\n", user=None)

    page.keyboard.press("Control+s")
    page.wait_for_selector("#conflict:not([hidden]) .cm-mergeView")
    assert "Rewritten by the agent" in page.locator("#merge").inner_text()  # theirs, on the left
    assert "line from the browser" in page.locator("#merge").inner_text()  # yours, on the right
    assert selectors.file_read(app=app, path="README.md").text == "# Rewritten by the agent\n"  # nothing overwritten yet

    page.click("#conflict-keep")
    page.wait_for_selector("#save-state:has-text('Saved your version')")
    assert "line from the browser" in selectors.file_read(app=app, path="README.md").text
    messages = [c.message for c in selectors.history_list(app=app)]
    assert messages[:2] == ["Edit README.md", "Edit README.md"]  # the agent's version is in history too


def test_new_file_from_the_tree_and_a_refused_name_shows_why(live, page, app, owner, browser_login):
    browser_login(page, owner)
    page.goto(f"{live.url}/sessions/{app.slug}/?tab=files")
    page.wait_for_selector(".tree-root")

    page.once("dialog", lambda dialog: dialog.accept("src/hello.ts"))
    page.click("button:has-text('+ File')")
    page.wait_for_selector(".tree-dir summary:has-text('src')")
    assert selectors.file_read(app=app, path="src/hello.ts").text == ""

    page.once("dialog", lambda dialog: dialog.accept("../escape.ts"))
    page.click("button:has-text('+ File')")
    page.wait_for_selector(".tree-error")
    assert "'..' is not allowed" in page.locator(".tree-error").inner_text()
    page.screenshot(path=str(live.layout.var_dir / "tree-error.png"))

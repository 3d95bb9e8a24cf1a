from django.urls import path, re_path

from . import views

# Included under /sessions/<slug>/ by studio.urls.
urlpatterns = [
    path("tree/", views.tree, name="ws_tree"),
    path("files/new", views.entry_create, name="ws_create"),
    path("files/rename", views.entry_rename, name="ws_rename"),
    path("files/delete", views.entry_delete, name="ws_delete"),
    path("files/upload", views.upload, name="ws_upload"),
    path("files/download", views.download, name="ws_download"),
    path("files/zip", views.download_zip, name="ws_zip"),
    re_path(r"^history/(?P<sha>[0-9a-f]{7,40})/$", views.version_detail, name="ws_version"),
    re_path(r"^history/(?P<sha>[0-9a-f]{7,40})/restore$", views.version_restore, name="ws_restore"),
]

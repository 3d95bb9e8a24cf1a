"""The Database tab's endpoints, included under /sessions/<slug>/ by studio.urls. The
collection travels as a form or query field, checked by `checks.collection_name`."""
from django.urls import path

from . import views

urlpatterns = [
    path("db/", views.panel, name="db_panel"),
    path("db/collections/new", views.collection_create, name="db_collection_create"),
    path("db/collections/drop", views.collection_drop, name="db_collection_drop"),
    path("db/documents/new", views.document_insert, name="db_document_insert"),
    path("db/documents/save", views.document_save, name="db_document_save"),
    path("db/documents/delete", views.document_delete, name="db_document_delete"),
    path("db/indexes/new", views.index_create, name="db_index_create"),
    path("db/indexes/drop", views.index_drop, name="db_index_drop"),
    path("db/import", views.documents_import, name="db_import"),
    path("db/export", views.export, name="db_export"),
]

from django.apps import AppConfig


class MgxSiteConfig(AppConfig):
    name = "mgx_site"
    verbose_name = "MGX"

    def ready(self):
        from .mongo import connect_mongo

        connect_mongo()

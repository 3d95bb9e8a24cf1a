from django.db import models

ROLES = ("team_leader", "product_manager", "architect", "engineer", "qa")  # the team, as MGX_LLM_MODEL_<ROLE> names it
DEFAULT_MODEL = "gpt-4o-mini"  # when neither MGX's environment nor the admin page names a model


class ModelSettings(models.Model):
    """The model endpoint an MGX admin set on /admin/model/: one row (pk 1), read at the start of
    every run (`agents.selectors.model_config`), so a change needs no restart. A variable set in
    MGX's environment (MGX_LLM_*, or `.env`) wins over it, field by field.

    The key is kept sealed (`core.sealed`, a key derived from MGX's secret key) and only MGX reads
    it back, to hand it to an agent container or to the Test call: no page, API or log shows it.
    Written only by `agents.services.model_settings_save`."""

    SINGLETON = 1

    base_url = models.CharField(max_length=500, blank=True)
    api_key_sealed = models.TextField(blank=True)
    model = models.CharField(max_length=200, blank=True)
    role_models = models.JSONField(default=dict, blank=True)  # role (llm.ROLES) -> model name
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=150, blank=True)

    class Meta:
        verbose_name = "model settings"
        verbose_name_plural = "model settings"

    def __str__(self) -> str:  # never the key
        return f"model endpoint {self.base_url or '(none)'}"

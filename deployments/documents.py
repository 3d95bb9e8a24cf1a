"""Build output in MongoDB (`mgx` database): one document per batch of lines, numbered per
build, so a reload of the Prod tab shows everything a live viewer saw. Lines are stored as the
builder printed them, minus terminal colour codes; build steps never see the app's variables
(they are given to running containers only), and lines are still masked for secrets."""
import datetime as dt

import mongoengine as me


class BuildLog(me.Document):
    build = me.IntField(required=True)  # deployments.models.Build.pk
    seq = me.IntField(required=True)
    lines = me.ListField(me.StringField())
    created_at = me.DateTimeField(default=lambda: dt.datetime.now(dt.timezone.utc))

    meta = {"collection": "build_logs", "indexes": [{"fields": ["build", "seq"], "unique": True}]}

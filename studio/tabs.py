"""The session page's tabs, in order: (key, label). Pages of other apps that render inside the
session page (a trace of its own, for one) import them from here, not from the views."""
TABS = [("chat", "Chat"), ("files", "Files"), ("dev", "Dev"), ("prod", "Prod"), ("logs", "Logs"),
        ("traces", "Traces"), ("terminal", "Terminal"), ("database", "Database"), ("users", "Users"),
        ("history", "History")]

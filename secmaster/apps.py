from django.apps import AppConfig


class SecmasterConfig(AppConfig):
    name = "secmaster"
    verbose_name = "Security master"

"""``manage.py list_strategies``: the strategies a backtest can use, with their parameters."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from backtests.services.backtest_spec import strategy_classes, user_code_errors


class Command(BaseCommand):
    help = (
        "List the strategy ids, names, parameters and rules between parameters (built-in and "
        "user strategies)."
    )

    def handle(self, *args, **options) -> None:
        for strategy_id, cls in strategy_classes().items():
            schema = cls.schema()
            self.stdout.write(f"{strategy_id}  ({schema['name']})")
            for param in schema["parameters"]:
                self.stdout.write(f"    {_describe(param)}")
            for rule in schema.get("constraints", []):
                self.stdout.write(f"    rule: {rule}")
        for error in user_code_errors():
            self.stderr.write(f"not loaded: {error}")


def _describe(param: dict) -> str:
    text = f"{param['name']}: {param['type']} = {param['default']}"
    if param["min"] is not None or param["max"] is not None:
        low = "" if param["min"] is None else param["min"]
        high = "" if param["max"] is None else param["max"]
        text += f"  [{low}..{high}]"
    if param["step"] is not None:
        text += f" step {param['step']}"
    if param["choices"] is not None:
        text += f"  one of {', '.join(str(c) for c in param['choices'])}"
    return text

"""The dispatcher: subscription order across types, subclass matching, nested publishing."""

from __future__ import annotations

from backtests.engine.dispatcher import Dispatcher


class Base:
    pass


class Child(Base):
    pass


def test_handlers_called_in_subscription_order_across_types():
    calls: list[str] = []
    d = Dispatcher()
    d.subscribe(Base, lambda e: calls.append("base-1"))
    d.subscribe(Child, lambda e: calls.append("child"))
    d.subscribe(object, lambda e: calls.append("any"))
    d.subscribe(Base, lambda e: calls.append("base-2"))
    d.publish(Child())
    assert calls == ["base-1", "child", "any", "base-2"]
    calls.clear()
    d.publish(Base())
    assert calls == ["base-1", "any", "base-2"]


def test_unrelated_event_reaches_no_handler():
    calls: list[object] = []
    d = Dispatcher()
    d.subscribe(Child, calls.append)
    d.publish(Base())
    assert calls == []


def test_nested_publish_is_depth_first():
    calls: list[str] = []
    d = Dispatcher()

    def first(e):
        calls.append(f"first:{type(e).__name__}")
        if isinstance(e, Child):
            d.publish(Base())

    d.subscribe(Base, first)
    d.subscribe(Base, lambda e: calls.append(f"second:{type(e).__name__}"))
    d.publish(Child())
    assert calls == ["first:Child", "first:Base", "second:Base", "second:Child"]


def test_subscribing_later_takes_effect():
    calls: list[object] = []
    d = Dispatcher()
    d.publish(Base())
    d.subscribe(Base, calls.append)
    event = Base()
    d.publish(event)
    assert calls == [event]

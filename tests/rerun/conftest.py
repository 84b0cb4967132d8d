from tests.export.conftest import executed_run, publisher_id  # noqa: F401 (fixtures)

"""Support code the tests share: the relay harness, the local Cosmos DB server, recorded calls,
the browser and process harnesses, and document builders.  Imported one way only:
``from tests.support.<module> import ...``."""

from storefleet.runtime.platform.storage.db import run_migrations_online

run_migrations_online()

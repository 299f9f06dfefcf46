from storefleet.runtime.platform.db import run_migrations_online

run_migrations_online()

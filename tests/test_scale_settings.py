"""The settings a scaled-out deployment sets: several Redis servers for the channel layer, PgBouncer.

Read in a fresh interpreter with the variables set, as a server process reads them.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

READ = ("import django, json; django.setup(); from django.conf import settings as s; "
        "db = s.DATABASES['default']; layer = s.CHANNEL_LAYERS['default']; "
        "print(json.dumps({'hosts': layer.get('CONFIG', {}).get('hosts'), 'backend': layer['BACKEND'], "
        "'cursors_off': db.get('DISABLE_SERVER_SIDE_CURSORS'), "
        "'options': {k: v for k, v in db.get('OPTIONS', {}).items() "
        "if k in ('server_side_binding', 'prepare_threshold')}}))")


def settings_with(**env: str) -> dict:
    full = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "CHANNEL_REDIS_URLS", "DB_SERVER_SIDE_BINDING",
                         "DB_DISABLE_SERVER_SIDE_CURSORS")}
    full.update(DJANGO_SETTINGS_MODULE="taskhub.settings", **env)
    result = subprocess.run([sys.executable, "-c", READ], cwd=ROOT, env=full, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


PG = "postgres://postgres@127.0.0.1:5432/x"
REDIS = "redis://127.0.0.1:6379/0"


def test_the_channel_layer_uses_redis_url_alone_by_default():
    got = settings_with(DATABASE_URL=PG, REDIS_URL=REDIS)
    assert got["backend"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert got["hosts"] == [REDIS]


def test_channel_redis_urls_give_the_layer_its_shards_in_order():
    got = settings_with(DATABASE_URL=PG, REDIS_URL=REDIS,
                        CHANNEL_REDIS_URLS="redis://127.0.0.1:7001/0, redis://127.0.0.1:7002/0")
    assert got["hosts"] == ["redis://127.0.0.1:7001/0", "redis://127.0.0.1:7002/0"]


def test_without_redis_the_layer_is_in_memory_whatever_channel_redis_urls_says():
    got = settings_with(CHANNEL_REDIS_URLS="redis://127.0.0.1:7001/0")
    assert got["backend"] == "channels.layers.InMemoryChannelLayer"
    assert got["hosts"] is None


def test_the_pgbouncer_switches():
    default = settings_with(DATABASE_URL=PG)
    assert default["options"] == {"server_side_binding": True, "prepare_threshold": 5}
    assert default["cursors_off"] is False
    pooled = settings_with(DATABASE_URL=PG, DB_SERVER_SIDE_BINDING="0", DB_DISABLE_SERVER_SIDE_CURSORS="1")
    assert pooled["options"] == {}
    assert pooled["cursors_off"] is True

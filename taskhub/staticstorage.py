"""The production static files storage: WhiteNoise's compressed, content-hashed files, with
Django's (documented, opt-in) rewriting of JavaScript module imports.

The board client (web/static/web/) is ES modules that import each other by relative path
(``import { api } from "./api.js"``). With hashed names, the page loads ``app.<hash>.js``; without
the rewriting, its imports would name the unhashed files, which are served without the long
cache header and could mix an old module with a new one. ``support_js_module_import_aggregation``
makes ``collectstatic`` rewrite those imports to the hashed names too.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFiles(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True

"""The storage `collectstatic` writes hashed, compressed files with (production.py).

WhiteNoise's storage, plus Django's rewriting of ES module imports: without it the hashed
main.<hash>.js imports the unhashed ./api.js, so after a deploy a browser may run the new
main.js with a cached old api.js (or the reverse). With it, each module's hash covers the
hashed names of the modules it imports, so changing one renames every module above it.
"""
from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True

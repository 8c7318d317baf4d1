"""The static files storage of production settings: what `collectstatic` writes with, and
what `{% static %}` asks for names.

WhiteNoise's storage (hashed, compressed copies), plus Django's rewriting of ES module
imports: without it the hashed main.<hash>.js imports the unhashed ./api.js, so after a
deploy a browser may run the new main.js with a cached old api.js (or the reverse). With
it, each module's hash covers the hashed names of the modules it imports, so changing one
renames every module above it.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class HashedStaticFilesStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True

    def stored_name(self, name):
        # Nothing collected yet (no manifest: a Procfile started as it stands): the apps'
        # own names, which WhiteNoise then serves from their static folders (production.py),
        # rather than a "missing manifest entry" error on every page.
        if not self.hashed_files:
            return name
        return super().stored_name(name)

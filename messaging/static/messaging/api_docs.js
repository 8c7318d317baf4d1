// /docs: Swagger UI over the site's own /openapi.json (messaging/templates/messaging/api_docs.html).
// A module file, not an inline script, so the page's Content-Security-Policy needs no
// 'unsafe-inline'. swagger-ui-bundle.js (a classic script, run before any module) defines
// SwaggerUIBundle.

const root = document.getElementById("swagger-ui");
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

// A write made with the staff session cookie (POST /simulate, DELETE /reset) needs
// Django's CSRF token, as the dashboard's burst sends it; a request authorised with an
// API key ("Authorize", bearerKey) is accepted with or without it.
// (Swagger UI fetches the schema itself through this too, without a method.)
function withCsrfToken(request) {
  const sameOrigin = new URL(request.url, window.location.href).origin === window.location.origin;
  if (sameOrigin && !SAFE_METHODS.has((request.method || "GET").toUpperCase()) && root.dataset.csrfToken) {
    request.headers["X-CSRFToken"] = root.dataset.csrfToken;
  }
  return request;
}

window.ui = window.SwaggerUIBundle({
  url: root.dataset.openapiUrl,
  domNode: root,
  deepLinking: true,
  // Off by default: it would send the schema to validator.swagger.io and show its badge.
  validatorUrl: null,
  showCommonExtensions: true,
  tryItOutEnabled: false,
  requestInterceptor: withCsrfToken,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});

// Starts Swagger UI on the documents its page lists in `data-urls` (a served file, so the page's
// Content-Security-Policy needs no inline script).
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    urls: JSON.parse(root.getAttribute("data-urls")),
    domNode: root,
    deepLinking: true,
    // The default validator badge loads an image from validator.swagger.io.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
})();

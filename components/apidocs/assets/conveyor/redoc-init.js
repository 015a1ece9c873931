// Starts Redoc on the document its page names in `data-spec-url` (a served file, so the page's
// Content-Security-Policy needs no inline script). System fonts: Redoc's default theme names web fonts
// that only a CDN would provide.
(function () {
  "use strict";
  var root = document.getElementById("redoc");
  var sans = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
  Redoc.init(
    root.getAttribute("data-spec-url"),
    {
      theme: {
        typography: {
          fontFamily: sans,
          headings: { fontFamily: sans },
          code: { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
        },
      },
    },
    root
  );
})();

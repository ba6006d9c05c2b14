// Swagger UI over this server's own spec; "Try it out" calls the same origin through nginx.
// persistAuthorization stays off: Swagger UI would keep the API key entered under "Authorize" in localStorage, on
// disk for anyone who later uses this browser profile. The key lasts as long as the page.
// validatorUrl null: no badge image from validator.swagger.io (the page loads nothing from elsewhere; CSP img-src).
// BaseLayout, not StandaloneLayout: the latter's top bar (a spec URL box this page has no use for, the bar above does
// the navigating) draws Swagger's logo with an inline <style>, which the Content-Security-Policy refuses.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
  validatorUrl: null,
  displayRequestDuration: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});

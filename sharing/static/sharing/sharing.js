/*
 * Sharing pages behaviour (static file: the content security policy forbids inline scripts).
 *  - Unmasking answers 404 with a short message (and no data) when the viewer has no live grant.
 *    htmx does not swap error responses by default; for unmask buttons the message replaces the
 *    region so the user learns why and gets the "request unmasking" link.
 *  - The share form shows the username field or the group field, whichever "share with" picks.
 * Included by several partials; the guard keeps the listeners single.
 */
(function () {
  "use strict";
  if (window.crmSharingLoaded) {
    return;
  }
  window.crmSharingLoaded = true;

  document.addEventListener("htmx:beforeSwap", function (event) {
    var detail = event.detail;
    var element = detail.requestConfig && detail.requestConfig.elt;
    if (detail.xhr && detail.xhr.status === 404 && element && element.closest && element.closest("[data-unmask]")) {
      detail.shouldSwap = true;
      detail.isError = false;
    }
  });

  function syncShareTarget(form) {
    var picked = form.querySelector('input[name="target_type"]:checked');
    var value = picked ? picked.value : "user";
    var username = form.querySelector('[name="username"]');
    var group = form.querySelector('[name="group"]');
    if (username && username.closest(".field")) {
      username.closest(".field").hidden = value !== "user";
    }
    if (group && group.closest(".field")) {
      group.closest(".field").hidden = value !== "group";
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.name === "target_type" && target.form) {
      syncShareTarget(target.form);
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll('form[data-testid="share-form"]').forEach(syncShareTarget);
  });
})();

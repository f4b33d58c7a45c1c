/*
 * CRM site shell behaviour. Loaded as a static file (the content security policy forbids inline
 * scripts); everything works without it, it only adds comfort:
 *  - htmx requests carry the CSRF token from <meta name="csrf-token">;
 *  - forms and buttons with data-confirm="question" ask before they submit;
 *  - "/" focuses the search box, Escape closes menus;
 *  - messages can be dismissed; selects with data-autosubmit submit their form;
 *  - after a failed form submission the first invalid field gets the focus.
 */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx: add the CSRF header to every non-GET request it makes.
  document.addEventListener("htmx:configRequest", function (event) {
    var verb = (event.detail.verb || "get").toLowerCase();
    if (verb !== "get") {
      event.detail.headers["X-CSRFToken"] = csrfToken();
    }
  });

  // Confirmation: a declined question stops the submission before htmx or the browser sees it.
  function confirmed(element) {
    var question = element.getAttribute("data-confirm");
    return !question || window.confirm(question);
  }

  document.addEventListener(
    "click",
    function (event) {
      var trigger = event.target.closest("button[data-confirm], input[type=submit][data-confirm], a[data-confirm]");
      if (trigger && !confirmed(trigger)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true
  );

  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (form.matches && form.matches("form[data-confirm]") && !confirmed(form)) {
        event.preventDefault();
        event.stopPropagation();
      }
    },
    true
  );

  // Keyboard shortcuts.
  function isTyping(element) {
    if (!element) {
      return false;
    }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.key === "/" && !isTyping(document.activeElement)) {
      var search = document.querySelector("[data-shortcut-search]");
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (event.key === "Escape") {
      var open = document.querySelectorAll("details[data-menu][open]");
      open.forEach(function (menu) {
        menu.removeAttribute("open");
        var summary = menu.querySelector("summary");
        if (summary) {
          summary.focus();
        }
      });
      if (!open.length && document.activeElement && document.activeElement.hasAttribute("data-shortcut-search")) {
        document.activeElement.blur();
      }
    }
  });

  // Menus built on <details data-menu>: close when the user clicks elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[data-menu][open]").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.removeAttribute("open");
      }
    });
  });

  // Dismissible messages.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-dismiss]");
    if (button) {
      var message = button.closest(".message");
      if (message) {
        message.classList.add("message--gone");
      }
    }
  });

  // Filters that apply as soon as a value is picked.
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.matches && field.matches("[data-autosubmit]") && field.form) {
      if (typeof field.form.requestSubmit === "function") {
        field.form.requestSubmit();
      } else {
        field.form.submit();
      }
    }
  });

  function focusFirstInvalid(root) {
    var invalid = (root || document).querySelector('[aria-invalid="true"]');
    if (invalid && typeof invalid.focus === "function") {
      invalid.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFirstInvalid(document);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    focusFirstInvalid(event.detail.target);
  });
})();

/*
 * Customer form behaviour (static file: the content security policy forbids inline scripts).
 *  - contact rows show the address fields only for the address kind;
 *  - the relationship autocomplete puts the picked customer into the row's hidden field, with
 *    arrow keys, Enter and Escape;
 *  - fields marked data-duplicate-source ask the dedup check (an htmx trigger) when they change;
 *  - a row added with htmx gets the focus.
 */
(function () {
  "use strict";

  // --- contact rows: the row carries its kind, CSS shows or hides the address fields.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (select.matches && select.matches("[data-contact-kind]")) {
      var row = select.closest("[data-contact-row]");
      if (row) {
        row.setAttribute("data-kind", select.value);
      }
    }
    if (select.matches && select.matches("[data-duplicate-source]")) {
      var warning = document.getElementById("duplicate-warning");
      if (warning && window.htmx) {
        window.htmx.trigger(warning, "duplicate-check");
      }
    }
  });

  // --- autocomplete
  function container(element) {
    return element.closest("[data-autocomplete]");
  }

  function results(box) {
    return box.querySelector(".autocomplete__results");
  }

  function options(box) {
    return Array.prototype.slice.call(box.querySelectorAll("[data-autocomplete-pick]"));
  }

  function close(box) {
    var list = results(box);
    if (list) {
      list.innerHTML = "";
    }
    var input = box.querySelector("[data-autocomplete-input]");
    if (input) {
      input.setAttribute("aria-expanded", "false");
    }
  }

  function pick(option) {
    var box = container(option);
    if (!box) {
      return;
    }
    var hidden = box.querySelector("[data-autocomplete-value]");
    var input = box.querySelector("[data-autocomplete-input]");
    if (hidden) {
      hidden.value = option.getAttribute("data-value");
    }
    if (input) {
      input.value = option.getAttribute("data-label");
      input.focus();
    }
    box.classList.add("autocomplete--picked");
    close(box);
  }

  document.addEventListener("click", function (event) {
    var option = event.target.closest("[data-autocomplete-pick]");
    if (option) {
      event.preventDefault();
      pick(option);
    }
  });

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (input.matches && input.matches("[data-autocomplete-input]")) {
      // Typing again forgets the previous pick: only a picked suggestion is ever submitted.
      var box = container(input);
      var hidden = box && box.querySelector("[data-autocomplete-value]");
      if (hidden) {
        hidden.value = "";
      }
      if (box) {
        box.classList.remove("autocomplete--picked");
      }
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var box = target.closest && container(target);
    if (!box) {
      return;
    }
    var list = options(box);
    var index = list.indexOf(target);
    if (event.key === "ArrowDown" && list.length) {
      event.preventDefault();
      list[Math.min(index + 1, list.length - 1)].focus();
    } else if (event.key === "ArrowUp" && index >= 0) {
      event.preventDefault();
      if (index === 0) {
        box.querySelector("[data-autocomplete-input]").focus();
      } else {
        list[index - 1].focus();
      }
    } else if (event.key === "Escape" && list.length) {
      event.preventDefault();
      close(box);
      box.querySelector("[data-autocomplete-input]").focus();
    } else if (event.key === "Enter" && target.matches("[data-autocomplete-input]")) {
      // Enter in the search box picks the only suggestion instead of submitting the whole form.
      event.preventDefault();
      if (list.length === 1) {
        pick(list[0]);
      } else if (list.length) {
        list[0].focus();
      }
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target) {
      return;
    }
    if (target.classList.contains("autocomplete__results")) {
      var box = container(target);
      var input = box && box.querySelector("[data-autocomplete-input]");
      if (input) {
        input.setAttribute("aria-expanded", options(box).length ? "true" : "false");
      }
      return;
    }
    if (target.id === "contact-rows" || target.id === "relationship-rows") {
      var rows = target.querySelectorAll("fieldset");
      var last = rows[rows.length - 1];
      var first = last && last.querySelector("select, input:not([type=hidden])");
      if (first) {
        first.focus();
      }
    }
  });
})();

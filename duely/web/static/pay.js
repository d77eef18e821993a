/* The portal's card payment (pay/_payment.html).

   Stripe.js is loaded once, from the address the page gives (real Stripe, or localstripe's
   fake in the demo and tests), and its card field is mounted into the Pay section. "Pay" turns
   the card into a payment method id in the browser and posts it, with the ticked invoices, to
   `<portal>/card`; the server works out the amount from its own records and charges it. When
   the bank wants 3-D Secure, Stripe.js's confirmCardPayment finishes the payment here.

   htmx swaps the whole form after the customer's other answers (and runs this file again):
   the state lives on `window.duelyPay`, and the card field is mounted into the new form. */
(function () {
  "use strict";
  if (window.duelyPay) {
    window.duelyPay.mount();
    return;
  }

  var stripe = null;
  var card = null;
  var loading = null;
  var busy = false;
  var mixed = false;

  function section() {
    return document.querySelector("[data-card-pay]");
  }

  function money(minor, currency, places) {
    var major = minor / Math.pow(10, places);
    return currency + " " + major.toLocaleString("en-GB", {
      minimumFractionDigits: places, maximumFractionDigits: places
    });
  }

  function ticked() {
    var form = document.getElementById("portal-form");
    return form ? Array.prototype.slice.call(form.querySelectorAll("input[name=invoice]:checked")) : [];
  }

  /* What the ticked invoices add up to: {ids, currencies, total, text}. */
  function selection() {
    var boxes = ticked();
    var currencies = [];
    var total = 0;
    var places = 2;
    boxes.forEach(function (box) {
      if (currencies.indexOf(box.dataset.currency) < 0) currencies.push(box.dataset.currency);
      total += Number(box.dataset.amount);
      places = Number(box.dataset.places);
    });
    currencies.sort();
    return {
      ids: boxes.map(function (box) { return Number(box.value); }),
      currencies: currencies,
      text: currencies.length === 1 ? money(total, currencies[0], places) : ""
    };
  }

  function say(text, kind) {
    var el = section();
    var out = el && el.querySelector("[data-pay-status]");
    if (!out) return;
    out.textContent = text;
    out.className = "pay-status" + (kind ? " pay-status-" + kind : "");
  }

  /* The button follows the ticks: "Pay GBP 480.50", or why it cannot pay. */
  function refresh() {
    var el = section();
    if (!el || busy || el.dataset.paid) return;
    var button = el.querySelector("[data-pay-button]");
    var picked = selection();
    button.disabled = picked.currencies.length !== 1 || !card;
    button.textContent = picked.text ? "Pay " + picked.text : "Pay";
    if (picked.currencies.length > 1) {
      say("One payment has one currency: tick only the invoices in " +
          picked.currencies.join(" or ") + ", then pay the others separately.", "error");
      mixed = true;
    } else if (mixed) {
      say("");  // the currency warning is over; a decline message stays until the next try
      mixed = false;
    }
  }

  function loadStripe(url) {
    if (window.Stripe) return Promise.resolve();
    if (!loading) {
      loading = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = url;
        script.onload = resolve;
        script.onerror = function () { loading = null; reject(new Error("Stripe.js did not load")); };
        document.head.appendChild(script);
      });
    }
    return loading;
  }

  /* localstripe's fake Stripe.js declares a top-level `class Element`, which shadows the DOM's
     Element for every script on the page: htmx's `instanceof Element` then fails and the
     portal's other forms stop working. Its card element is made by now (the only use of its
     class we need), so the global name goes back to the DOM's. Real Stripe.js declares no such
     name, and then this does nothing. */
  function restoreDomElement() {
    /* global Element: writable */
    if (typeof Element !== "undefined" && Element !== window.Element) {
      Element = window.Element;  // eslint-disable-line no-global-assign
    }
  }

  function mount() {
    var el = section();
    if (!el || el.dataset.mounted) return;
    el.dataset.mounted = "yes";
    el.querySelectorAll("[data-needs-script]").forEach(function (item) { item.hidden = false; });
    loadStripe(el.dataset.stripeJs).then(function () {
      if (!stripe) {
        stripe = window.Stripe(el.dataset.publishableKey);
        card = stripe.elements().create("card");
        restoreDomElement();
      } else {
        card.unmount();  // it was in the form htmx replaced
      }
      card.mount(el.querySelector("[data-card-element]"));
      refresh();
    }).catch(function () {
      el.dataset.mounted = "";
      say("Card payment could not be loaded. Check your connection and reload the page.", "error");
    });
    refresh();
  }

  /* A payment method id for the card typed in. Real Stripe.js: createPaymentMethod -> pm_...
     localstripe's fake returns nothing from createPaymentMethod; its tokens carry a card_...
     that its PaymentIntents accept as the payment method. */
  function paymentMethodId() {
    var made = typeof stripe.createPaymentMethod === "function"
      ? stripe.createPaymentMethod({type: "card", card: card})
      : undefined;
    return Promise.resolve(made).then(function (result) {
      if (result && result.error) throw result.error;
      if (result && result.paymentMethod) return result.paymentMethod.id;
      return stripe.createToken(card).then(function (tokenised) {
        if (!tokenised || tokenised.error || !tokenised.token) {
          throw (tokenised && tokenised.error) || {};
        }
        return tokenised.token.card.id;
      });
    }).catch(function (error) {
      throw {message: "Please check the card details. " + ((error && error.message) || "")};
    });
  }

  function csrfToken() {
    var field = document.querySelector("#portal-form input[name=_csrf_token]");
    if (field) return field.value;
    try {
      return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"];
    } catch (ignored) {
      return "";
    }
  }

  function post(el, ids, method) {
    return fetch(el.dataset.cardUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "x-csrftoken": csrfToken()
      },
      body: JSON.stringify({invoices: ids, payment_method: method})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        answer.http = response.status;
        return answer;
      });
    }, function () {
      return {http: 0, message: "The payment could not be sent: check your connection and try again."};
    });
  }

  function paid(el, message) {
    el.dataset.paid = "yes";
    var button = el.querySelector("[data-pay-button]");
    button.disabled = true;
    button.textContent = "Paid";
    ticked().forEach(function (box) { box.disabled = true; });
    if (card && typeof card.update === "function") card.update({disabled: true});
    say(message || "Payment received, thank you — your invoices will show as paid in a moment.", "done");
  }

  function pay() {
    var el = section();
    var picked = selection();
    if (!el || busy || !card) return;
    if (picked.currencies.length === 0) {
      say("Tick the invoices you want to pay above.", "error");
      return;
    }
    if (picked.currencies.length > 1) return refresh();
    busy = true;
    var button = el.querySelector("[data-pay-button]");
    button.disabled = true;
    say("Paying " + picked.text + "…", "");
    paymentMethodId().then(function (method) {
      return post(el, picked.ids, method);
    }).then(function (answer) {
      if (answer.http === 200 && answer.status === "requires_action") {
        say("Your bank asks you to confirm this payment…", "");
        return stripe.confirmCardPayment(answer.client_secret).then(function (result) {
          if (result && result.error) throw {message: result.error.message || "Your bank did not confirm the payment."};
          var status = result && result.paymentIntent && result.paymentIntent.status;
          if (status === "succeeded" || status === "processing") return paid(el);
          throw {message: "Your bank did not confirm the payment. Please try again or use another card."};
        });
      }
      if (answer.http === 200 && (answer.status === "succeeded" || answer.status === "processing")) {
        return paid(el, answer.message);
      }
      throw {message: answer.message || "The payment could not be made. Please try again."};
    }).catch(function (error) {
      say((error && error.message) || "The payment could not be made. Please try again.", "error");
    }).then(function () {
      busy = false;
      refresh();
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.closest && event.target.closest("#portal-form")) refresh();
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-pay-button]")) pay();
  });
  document.addEventListener("htmx:load", mount);

  window.duelyPay = {mount: mount};
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mount);
  } else {
    mount();
  }
})();

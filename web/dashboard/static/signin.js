// Sign-in with Firebase Auth through its REST API (Identity Toolkit), no SDK needed:
// the browser sends the password to Firebase Auth, never to Bale; Bale receives only the
// ID token, in the hidden #session form (with its CSRF token), and checks it server-side.
"use strict";
(function () {
  var form = document.getElementById("signin");
  if (!form) return;
  var session = document.getElementById("session");
  var errorBox = document.getElementById("signin-error");
  var MESSAGES = {
    EMAIL_NOT_FOUND: "Wrong email or password.",
    INVALID_PASSWORD: "Wrong email or password.",
    INVALID_LOGIN_CREDENTIALS: "Wrong email or password.",
    USER_DISABLED: "This account is disabled.",
    EMAIL_EXISTS: "An account with this email exists already: sign in instead.",
    INVALID_EMAIL: "That is not a valid email address.",
    MISSING_PASSWORD: "Enter your password.",
    TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts; try again later."
  };

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  function busy(on) {
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = on; });
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var action = (event.submitter && event.submitter.dataset.action) || "signInWithPassword";
    var email = form.elements.email.value.trim();
    var password = form.elements.password.value;
    if (!email || !password) { showError("Enter your email and password."); return; }
    errorBox.hidden = true;
    busy(true);
    var url = form.dataset.toolkit + "/v1/accounts:" + action + "?key=" + encodeURIComponent(form.dataset.apiKey);
    fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: email, password: password, returnSecureToken: true })
    })
      .then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      })
      .then(function (r) {
        if (!r.ok || !r.body.idToken) {
          var code = ((r.body.error || {}).message || "").split(" ")[0];
          throw new Error(MESSAGES[code] || ("Sign-in failed: " + (code || "unknown error")));
        }
        session.elements.id_token.value = r.body.idToken;
        session.submit();
      })
      .catch(function (err) {
        busy(false);
        showError(err.message && err.message.indexOf("Failed to fetch") < 0 ? err.message : "Cannot reach Firebase Auth; try again.");
      });
  });
})();

// Sign-in with Firebase Auth through its REST API (Identity Toolkit), no SDK needed:
// the browser sends the password to Firebase Auth, never to Bale; Bale receives only the
// ID token, in the hidden #session form (with its CSRF token), and checks it server-side.
// Where Bale requires verified addresses, an unverified account is sent a verification link
// (Firebase mails it) instead of being signed in.
"use strict";
(function () {
  var form = document.getElementById("signin");
  if (!form) return;
  var session = document.getElementById("session");
  var errorBox = document.getElementById("signin-error");
  var statusBox = document.getElementById("signin-status");
  var MESSAGES = {
    EMAIL_NOT_FOUND: "Wrong email or password.",
    INVALID_PASSWORD: "Wrong email or password.",
    INVALID_LOGIN_CREDENTIALS: "Wrong email or password.",
    USER_DISABLED: "This account is disabled.",
    EMAIL_EXISTS: "An account with this email exists already: sign in instead.",
    INVALID_EMAIL: "That is not a valid email address.",
    MISSING_PASSWORD: "Enter your password.",
    WEAK_PASSWORD: "Choose a longer password (at least 6 characters).",
    OPERATION_NOT_ALLOWED: "This sign-in method is not enabled for Bale.",
    ADMIN_ONLY_OPERATION: "Accounts are created by your administrator.",
    TOO_MANY_ATTEMPTS_TRY_LATER: "Too many attempts; try again later."
  };

  function show(box, text) {
    errorBox.hidden = statusBox.hidden = true;
    if (box) { box.textContent = text; box.hidden = false; }
  }

  function busy(on) {
    Array.prototype.forEach.call(form.querySelectorAll("button"), function (b) { b.disabled = on; });
    form.setAttribute("aria-busy", on ? "true" : "false");
  }

  function call(method, body) {
    var url = form.dataset.toolkit + "/v1/accounts:" + method + "?key=" + encodeURIComponent(form.dataset.apiKey);
    return fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().then(function (data) {
        if (!resp.ok) {
          var code = ((data.error || {}).message || "").split(" ")[0];
          throw new Error(MESSAGES[code] || ("Sign-in failed: " + (code || "unknown error")));
        }
        return data;
      });
    });
  }

  function finish(idToken, email) {
    if (form.dataset.requireVerified !== "true") return submit(idToken);
    return call("lookup", { idToken: idToken }).then(function (data) {
      if ((data.users || [{}])[0].emailVerified) return submit(idToken);
      return call("sendOobCode", { requestType: "VERIFY_EMAIL", idToken: idToken }).then(function () {
        busy(false);
        show(statusBox, "We sent a link to " + email + ": open it to verify your address, then sign in again.");
      });
    });
  }

  function submit(idToken) {
    session.elements.id_token.value = idToken;
    session.submit();
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var action = (event.submitter && event.submitter.dataset.action) || "signInWithPassword";
    var email = form.elements.email.value.trim();
    var password = form.elements.password.value;
    var work;
    if (action === "resetPassword") {
      if (!email) { show(errorBox, "Enter your email address first."); return; }
      work = call("sendOobCode", { requestType: "PASSWORD_RESET", email: email }).then(function () {
        busy(false);
        show(statusBox, "If " + email + " has an account, we sent it a link to choose a new password.");
      });
    } else {
      if (!email || !password) { show(errorBox, "Enter your email and password."); return; }
      work = call(action, { email: email, password: password, returnSecureToken: true }).then(function (data) {
        return finish(data.idToken, email);
      });
    }
    show(null);
    busy(true);
    work.catch(function (err) {
      busy(false);
      var text = err instanceof TypeError ? "Cannot reach Firebase Auth; try again." : err.message;
      show(errorBox, text);
    });
  });
})();

"""Canned pages the simulated Jenkins' faults answer with, as Jenkins, Jetty and proxies write them."""

from __future__ import annotations

import html
import secrets

NO_CRUMB = "No valid crumb was included in the request"
PARTIAL_JSON = b'{"_class":"hudson.model.ComputerSet","busyExecutors":0,"computer":[{"_class":"hudson.slav'
"""The start of a JSON answer, cut off (what a reset mid-response leaves behind)."""

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: NO_CRUMB,
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def error_page(status: int, uri: str) -> tuple[str, dict[str, str]]:
    """The body and extra headers of an error answer for ``status`` to a request for ``uri``."""
    if status == 401:
        return _UNAUTHORIZED, {
            "WWW-Authenticate": 'Basic realm="Jenkins"',
            "X-You-Are-Authenticated-As": "anonymous",
            "X-Required-Permission": "hudson.model.Hudson.Read",
        }
    if status == 500:
        return _OOPS.format(id=secrets.token_hex(16)), {"X-Jenkins": "2.479.1"}
    if status == 503:
        return _STARTING, {"X-Jenkins": "2.479.1", "Cache-Control": "no-cache,no-store,must-revalidate"}
    reason = _REASONS.get(status, "Error")
    if status in (502, 504):
        return _NGINX.format(status=status, reason=reason), {}
    return _JETTY.format(status=status, reason=reason, uri=html.escape(uri)), {"X-Jenkins": "2.479.1"}


def sign_in_page() -> str:
    """What a single-sign-on proxy answers in place of Jenkins' JSON: a 200 HTML login form."""
    return _SIGN_IN


_UNAUTHORIZED = """<html><head><meta http-equiv='refresh' content='1;url=/login?from=%2F'/>\
<script>window.location.replace('/login?from=%2F');</script></head><body style='background-color:white; \
color:white;'>

Authentication required
<!--
-->

</body></html>
"""

_JETTY = """<html>
<head>
<meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>
<title>Error {status} {reason}</title>
</head>
<body><h2>HTTP ERROR {status} {reason}</h2>
<table>
<tr><th>URI:</th><td>{uri}</td></tr>
<tr><th>STATUS:</th><td>{status}</td></tr>
<tr><th>MESSAGE:</th><td>{reason}</td></tr>
<tr><th>SERVLET:</th><td>Stapler</td></tr>
</table>
<hr/><a href="https://eclipse.org/jetty">Powered by Jetty:// 10.0.20</a><hr/>

</body>
</html>
"""

_OOPS = """<!DOCTYPE html><html class=""><head resURL="/static/a1b2c3d4"><title>Jenkins [Jenkins]</title>\
</head><body id="jenkins" class="yui-skin-sam full-screen jenkins-2.479.1" data-version="2.479.1">\
<div id="page-body" class="app-page-body clear"><div id="main-panel"><h1 style="text-align: center">\
<img src="/static/a1b2c3d4/images/rage.svg" height="179" width="154"/> Oops!</h1>\
<div id="error-description"><h2 style="text-align: center">A problem occurred while processing the request</h2>\
<p style="text-align: center">Logging ID={id}</p></div></div></div></body></html>
"""

_STARTING = """<!DOCTYPE html><html><head resURL="/static/a1b2c3d4">\
<title>Starting Jenkins</title><meta http-equiv="refresh" content="5"/></head>\
<body><div class="loading-container"><h1>Please wait while Jenkins is getting ready to work ...</h1>\
<p>Your browser will reload automatically when Jenkins is ready.</p></div></body></html>
"""

_NGINX = """<html>
<head><title>{status} {reason}</title></head>
<body>
<center><h1>{status} {reason}</h1></center>
<hr><center>nginx/1.25.3</center>
</body>
</html>
"""

_SIGN_IN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - Company SSO</title></head>
<body><form method="post" action="/oauth2/sign_in"><h1>Sign in to continue</h1>
<input type="text" name="username"/><input type="password" name="password"/>
<button type="submit">Sign in</button></form></body></html>
"""

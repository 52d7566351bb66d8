"""Every route × every kind of visitor, from one table; and no state change without a POST
carrying a CSRF token.

The table (MATRIX) names each route by a sample URL built from real data (wishes submitted
through `lifecycle.submit`, the default questionnaire from `questionnaires.store`), and says
what each kind of visitor gets. The tests are generated from it, and a test fails when the app
has a route that no row covers, so a new page cannot slip in without deciding who may see it.

The sample data is built once (`template`) and copied for every test that may change it.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from conftest import PASSWORD, STAFF, login
from werkzeug.exceptions import MethodNotAllowed

from wishes import audit, create_app, kiosks, lifecycle
from wishes.accounts import store as accounts
from wishes.assessment import scheme as assessment_scheme
from wishes.assessment import store as assessment
from wishes.lifecycle import Actor, ClaimantKind, WishEntry
from wishes.organisation import store as organisation
from wishes.organisation import workbook as organisation_workbook
from wishes.questionnaires import definition as definitions
from wishes.questionnaires import store as questionnaires
from wishes.routing import RouteDecision
from wishes.storage import connect, database_path

# ---- the visitors -------------------------------------------------------------------------

# Short column name -> the account it logs in as (conftest.STAFF); None: not logged in.
VISITORS = {
    "anon": None,
    "mem_a": "member_a",  # member of branch A (pediatrics)
    "mem_b": "member_b",  # member of branch B (logistics)
    "sec_a": "secretary_a",  # secretary of branch A
    "tri": "triager",  # the Party-building office
    "mgr": "manager",
    "adm": "admin",
}
assert {name for name in VISITORS.values() if name} <= set(STAFF)

# ---- the table ----------------------------------------------------------------------------

# How to read it: one row per request, "METHOD /sample/url", then one cell per visitor in the
# order of the header. {wish_a} is a wish open at branch A, {wish_b} one open at branch B,
# {wish_c} a wish of branch A claimed by mem_a, {wish_t} a wish waiting for triage, {wish_f} a
# fulfilled wish of branch A with a photo; {code_a}/{code_b} are tracking codes, {ward} a
# department, {slug}/{qid} the default questionnaire, {vid} its published version, {draft} its
# open draft, {key} one of its questions, {user_b} member_b's account; {Q} stands for
# /admin/questionnaires/{qid}.
# A cell is what that visitor gets:
#   200, 400, 403, 404, 405   that status
#   302, 303                  a redirect, not to the login page
#   login                     a redirect to the login page (not logged in)
#   +                         after any of those: the database changed (the action was done);
#                             without it nothing in the database may change
# POST rows are sent as a browser sends the form (a valid CSRF token, the fields in FORMS).
# fmt: off
MATRIX = {
    #                                            anon   mem_a  mem_b  sec_a  tri    mgr    adm
    # -- patients: open to everyone, logged in or not
    "GET /":                                    "200    200    200    200    200    200    200",
    "GET /healthz":                             "200    200    200    200    200    200    200",
    "GET /ping":                                "200    200    200    200    200    200    200",
    "GET /kiosk":                               "200    200    200    200    200    200    200",
    "GET /kiosk/wish":                          "200    200    200    200    200    200    200",
    "POST /kiosk/wish":                         "302+   302+   302+   302+   302+   302+   302+",
    "GET /kiosk/thanks":                        "302    302    302    302    302    302    302",
    "GET /w/new?dept={ward}":                   "200    200    200    200    200    200    200",
    "POST /w/new":                              "302+   302+   302+   302+   302+   302+   302+",
    "GET /t":                                   "200    200    200    200    200    200    200",
    "GET /t?code={code_a}":                     "302    302    302    302    302    302    302",
    "GET /t/{code_a}":                          "200    200    200    200    200    200    200",
    "GET /t/2345678":                           "404    404    404    404    404    404    404",
    # issue 19, item 2: a fulfilled wish's page asks "did it help?"; anyone with the code answers
    "GET /t/{code_f}":                          "200    200    200    200    200    200    200",
    "POST /t/{code_f}":                         "303+   303+   303+   303+   303+   303+   303+",
    "POST /kiosk/t/{code_f}":                   "303+   303+   303+   303+   303+   303+   303+",
    "GET /kiosk/t":                             "200    200    200    200    200    200    200",
    "GET /kiosk/t/{code_b}":                    "200    200    200    200    200    200    200",
    "GET /kiosk/t/2345678":                     "404    404    404    404    404    404    404",
    # the link in a patient's text that stops further texts: a page asking, its button stopping
    "GET /t/{code_a}/stop?k={stop_a}":          "200    200    200    200    200    200    200",
    "GET /t/{code_a}/stop?k=guessed":           "404    404    404    404    404    404    404",
    "POST /t/{code_a}/stop?k={stop_a}":         "200+   200+   200+   200+   200+   200+   200+",
    "GET /s/{slug}?dept={ward}":                "200    200    200    200    200    200    200",
    "GET /s/no-such-survey":                    "404    404    404    404    404    404    404",
    "POST /s/{slug}":                           "302+   302+   302+   302+   302+   302+   302+",
    "GET /s/{slug}/thanks":                     "200    200    200    200    200    200    200",
    "GET /kiosk/s/{slug}":                      "200    200    200    200    200    200    200",
    "POST /kiosk/s/{slug}":                     "302+   302+   302+   302+   302+   302+   302+",
    "GET /kiosk/s/{slug}/thanks":               "200    200    200    200    200    200    200",
    "GET /cards":                               "200    200    200    200    200    200    200",
    "GET /cards/{ward}":                        "200    200    200    200    200    200    200",
    "GET /cards/no-such-ward":                  "404    404    404    404    404    404    404",
    "GET /vendor/chart.umd.min.js":             "200    200    200    200    200    200    200",
    "GET /vendor/package.json":                 "404    404    404    404    404    404    404",
    # -- logging in and out
    "GET /login":                               "200    200    200    200    200    200    200",
    "POST /login":                              "302+   302+   302+   302+   302+   302+   302+",
    "GET /logout":                              "405    405    405    405    405    405    405",
    "POST /logout":                             "login  login+ login+ login+ login+ login+ login+",
    "GET /account/password":                    "login  200    200    200    200    200    200",
    "POST /account/password":                   "login  302+   302+   302+   302+   302+   302+",
    # issue 19, item 5: one's own tokens for the JSON API (made here, shown once; revoked here)
    "GET /account/tokens":                      "login  200    200    200    200    200    200",
    "POST /account/tokens":                     "login  200+   200+   200+   200+   200+   200+",
    "POST /account/tokens/999999/revoke":       "login  404    404    404    404    404    404",
    # -- the claim board: every staff role reads; acting depends on role and branch
    "GET /board":                               "login  200    200    200    200    200    200",
    "GET /board/wishes/{wish_a}":               "login  200    200    200    200    200    200",
    "GET /board?unhappy=y&branch=all":          "login  200    200    200    200    200    200",
    "GET /board/wishes/999999":                 "login  404    404    404    404    404    404",
    "GET /board/wishes/{wish_f}/photo":         "login  200    200    200    200    200    200",
    "GET /board/wishes/{wish_a}/photo":         "login  404    404    404    404    404    404",
    "GET /board/wishes/{wish_a}/claim":         "405    405    405    405    405    405    405",
    # mem_b may neither act on branch A's wishes nor reveal their phone (nor may anyone but
    # the claimer and the branch's secretary); no other page shows a full phone number.
    "POST /board/wishes/{wish_a}/claim":        "login  303+   403    303+   403    403    403",
    "POST /board/wishes/{wish_b}/claim":        "login  403    303+   403    403    403    403",
    "POST /board/wishes/{wish_c}/start":        "login  303+   403    303+   403    403    403",
    "POST /board/wishes/{wish_c}/fulfil":       "login  303+   403    303+   403    403    403",
    "POST /board/wishes/{wish_f}/follow_up":    "login  303+   403    303+   303+   403    403",
    "POST /board/wishes/{wish_c}/hand_back":    "login  303+   403    303+   403    403    403",
    "POST /board/wishes/{wish_a}/reroute":      "login  403    403    303+   303+   403    403",
    "POST /board/wishes/{wish_a}/decline":      "login  403    403    303+   303+   403    403",
    # issue 19, items 3 and 4: assign (the branch's secretary), internal notes (the branch and
    # the office), merge a similar wish and undo it (the office, or the secretary of both)
    "GET /board/wishes/{wish_c}/assign":        "405    405    405    405    405    405    405",
    "POST /board/wishes/{wish_c}/assign":       "login  403    403    303+   403    403    403",
    "POST /board/wishes/{wish_a}/notes":        "login  303+   403    303+   303+   403    403",
    "POST /board/wishes/{wish_a}/merge":        "login  403    403    403    303+   403    403",
    "POST /board/wishes/{wish_a}/unmerge":      "login  403    403    303    303    403    403",
    # every staff member's inbox: opening an item reads it (an ignored column, like a session's)
    "GET /inbox":                               "login  200    200    200    200    200    200",
    "GET /inbox/999999":                        "login  404    404    404    404    404    404",
    "POST /inbox/read":                         "login  303    303    303    303    303    303",
    "POST /inbox/webhook":                      "login  303+   303+   303+   303+   303+   303+",
    "POST /board/wishes/{wish_t}/triage":       "login  403    403    403    303+   403    403",
    "GET /board/wishes/{wish_c}/reveal-phone":  "405    405    405    405    405    405    405",
    "POST /board/wishes/{wish_c}/reveal-phone": "login  200+   403    200+   403    403    403",
    # -- the administrator: accounts and the audit log
    "GET /admin/users":                         "login  403    403    403    403    403    200",
    "GET /admin/users/new":                     "login  403    403    403    403    403    200",
    "POST /admin/users/new":                    "login  403    403    403    403    403    200+",
    "GET /admin/users/{user_b}":                "login  403    403    403    403    403    200",
    "GET /admin/users/999999":                  "login  403    403    403    403    403    404",
    "POST /admin/users/{user_b}":               "login  403    403    403    403    403    302+",
    "GET /admin/users/{user_b}/reset-password": "405    405    405    405    405    405    405",
    "POST /admin/users/{user_b}/reset-password":"login  403    403    403    403    403    200+",
    # -- issue 17: staff in bulk (admin), and the organisation (the office and the admin)
    "POST /admin/users/import":                 "login  403    403    403    403    403    200+",
    "GET /admin/users/export.xlsx":             "login  403    403    403    403    403    200",
    "GET /admin/users/{user_b}/phone":          "405    405    405    405    405    405    405",
    # (member_b has no phone on record: nothing shown, nothing to audit)
    "POST /admin/users/{user_b}/phone":         "login  403    403    403    403    403    200",
    "GET /admin/organisation":                  "login  403    403    403    200    403    200",
    "GET /admin/organisation/add/branch":       "405    405    405    405    405    405    405",
    "POST /admin/organisation/add/general_branch": "login 403 403 403  302+   403    302+",
    "POST /admin/organisation/add/nothing":     "login  403    403    403    404    403    404",
    "GET /admin/organisation/units/branch/pediatrics": "login 403 403 403 200    403    200",
    "GET /admin/organisation/units/department/{ward}": "login 403 403 403 200    403    200",
    "GET /admin/organisation/units/branch/nope":       "login 403 403 403 404    403    404",
    "GET /admin/organisation/units/nothing/pediatrics": "login 403 403 403 404   403    404",
    "GET /admin/organisation/units/branch/pediatrics/rename": "405 405 405 405 405 405 405",
    "POST /admin/organisation/units/branch/pediatrics/rename": "login 403 403 403 302+ 403 302+",
    "POST /admin/organisation/units/department/{ward}/place": "login 403 403 403 302+ 403 302+",
    "POST /admin/organisation/units/branch/pediatrics/serves": "login 403 403 403 302+ 403 302+",
    "POST /admin/organisation/units/branch/outpatient/move":   "login 403 403 403 302+ 403 302+",
    # (pediatrics has members and open wishes: refused, saying why; the ward has none)
    "POST /admin/organisation/units/branch/pediatrics/deactivate": "login 403 403 403 302 403 302",
    "POST /admin/organisation/units/department/{ward}/deactivate":
                                                "login  403    403    403    302+   403    302+",
    "POST /admin/organisation/units/department/{ward}/reactivate": "login 403 403 403 302 403 302",
    "GET /admin/organisation/merge":            "login  403    403    403    200    403    200",
    "GET /admin/organisation/merge?source=pediatrics&target=logistics":
                                                "login  403    403    403    200    403    200",
    "POST /admin/organisation/merge":           "login  403    403    403    302+   403    302+",
    # issue 18: the routing map (saving it with every category to a branch and one department
    # row; taking a suggestion sends parking to the office)
    "GET /admin/organisation/routing":          "login  403    403    403    200    403    200",
    "POST /admin/organisation/routing":         "login  403    403    403    302+   403    302+",
    "POST /admin/organisation/routing/suggestion": "login 403 403 403  302+   403    302+",
    "POST /admin/organisation/routing/corrections": "login 403 403 403 302+  403    302+",
    "GET /admin/organisation/workbook":         "login  403    403    403    200    403    200",
    "GET /admin/organisation/workbook/export.xlsx":   "login 403 403 403  200    403    200",
    "GET /admin/organisation/workbook/template.xlsx": "login 403 403 403  200    403    200",
    # (the template alone leaves out branches in use: refused with every problem, no change)
    "POST /admin/organisation/workbook": "login 403    403    403    400    403    400",
    # (no preview behind it: refused, no change)
    "POST /admin/organisation/workbook/confirm": "login 403    403    403    302    403    302",
    "GET /admin/audit":                         "login  403    403    403    403    403    200",
    # -- questionnaires: the office (triager) and the administrator
    "GET /admin/questionnaires":                "login  403    403    403    200    403    200",
    "GET /admin/questionnaires/new":            "405    405    405    405    405    405    405",
    "POST /admin/questionnaires/new":           "login  403    403    403    302+   403    302+",
    "GET /admin/questionnaires/import":         "405    405    405    405    405    405    405",
    "POST /admin/questionnaires/import":        "login  403    403    403    302+   403    302+",
    "GET {Q}":                                  "login  403    403    403    200    403    200",
    "GET /admin/questionnaires/999999":         "login  403    403    403    404    403    404",
    # -- praise in comments, passed on by the office
    "GET /admin/questionnaires/thanks":         "login  403    403    403    200    403    200",
    "GET /admin/questionnaires/thanks?passed=1": "login  403    403    403    200    403    200",
    "POST /admin/questionnaires/thanks/{response}": "login  403    403    403    302    403    302",
    # -- one patient's answers, one by one: the office and who reads the figures
    "GET {Q}/responses?department={ward}":      "login  403    403    403    200    200    200",
    "GET {Q}/responses/{response}":             "login  403    403    403    200    200    200",
    "GET {Q}/responses/999999":                 "login  403    403    403    404    404    404",
    "GET {Q}/responses.xlsx":                   "login  403    403    403    200    200    200",
    "GET {Q}/responses.sav":                    "login  403    403    403    200    200    200",
    "GET {Q}/responses.pdf":                    "login  403    403    403    404    404    404",
    "GET {Q}/title":                            "405    405    405    405    405    405    405",
    "POST {Q}/title":                           "login  403    403    403    302+   403    302+",
    "GET {Q}/open-days":                        "405    405    405    405    405    405    405",
    "POST {Q}/open-days":                       "login  403    403    403    302+   403    302+",
    # GET .../questions/new is the <key> route asking for a question called "new": none.
    "GET {Q}/questions/new":                    "login  403    403    403    404    403    404",
    "POST {Q}/questions/new":                   "login  403    403    403    302+   403    302+",
    "GET {Q}/questions/{key}":                  "login  403    403    403    200    403    200",
    "GET {Q}/questions/nokey":                  "login  403    403    403    404    403    404",
    "POST {Q}/questions/{key}":                 "login  403    403    403    302+   403    302+",
    "GET {Q}/questions/{key}/down":             "405    405    405    405    405    405    405",
    "POST {Q}/questions/{key}/down":            "login  403    403    403    302+   403    302+",
    # the editor's live preview of a question being written: nothing saved
    "GET {Q}/preview-question":                 "405    405    405    405    405    405    405",
    "POST {Q}/preview-question?device=kiosk&lang=en": "login 403 403 403 200   403    200",
    "GET {Q}/versions/{draft}/preview":         "login  403    403    403    200    403    200",
    "GET {Q}/versions/999999/preview":          "login  403    403    403    404    403    404",
    "POST {Q}/versions/{draft}/preview":        "login  403    403    403    200    403    200",
    "GET {Q}/versions/{draft}/publish":         "405    405    405    405    405    405    405",
    "POST {Q}/versions/{draft}/publish":        "login  403    403    403    302+   403    302+",
    "GET {Q}/export.json":                      "login  403    403    403    200    403    200",
    "GET {Q}/export.xlsx":                      "login  403    403    403    200    403    200",
    "GET {Q}/cards":                            "login  403    403    403    200    403    200",
    # -- the dashboard: managers and the administrator
    "GET /dashboard":                           "login  403    403    403    403    200    200",
    "GET /dashboard/report?month=2026-01":      "login  403    403    403    403    200    200",
    "GET /dashboard/comments?sentiment=negative": "login  403    403    403    403    200    200",
    "GET /dashboard/export/satisfaction.csv":   "login  403    403    403    403    200    200",
    "GET /dashboard/export/branches.xlsx":      "login  403    403    403    403    200    200",
    "GET /dashboard/export/nothing.csv":        "login  403    403    403    403    404    404",
    # -- the branch assessment ({round_s} in self-assessment and {round_p} published, both of
    # branches A and B): the office runs it; members see their branch once published
    "GET /assessment":                          "login  200    200    200    200    200    200",
    "GET /assessment/rounds/new":               "login  403    403    403    200    403    200",
    "POST /assessment/rounds/new":              "login  403    403    403    302+   403    302+",
    "GET /assessment/rounds/{round_s}":         "login  403    403    403    200    200    200",
    "GET /assessment/rounds/999999":            "login  403    403    403    404    404    404",
    "GET /assessment/rounds/{round_s}/moves/close_self_assessment":
                                                "405    405    405    405    405    405    405",
    "POST /assessment/rounds/{round_s}/moves/close_self_assessment":
                                                "login  403    403    403    302+   403    302+",
    "POST /assessment/rounds/{round_s}/moves/nowhere":    "login 403 403 403  404  403  404",
    "GET /assessment/rounds/{round_p}/export.xlsx":       "login 403 403 403  200  200  200",
    "GET /assessment/rounds/{round_p}/export.pdf":        "login 403 403 403  404  404  404",
    "GET /assessment/rounds/{round_s}/branches/pediatrics":        "login 403 403 200 200 200 200",
    "GET /assessment/rounds/{round_p}/branches/pediatrics":        "login 200 403 200 200 200 200",
    "GET /assessment/rounds/{round_p}/branches/logistics":         "login 403 200 403 200 200 200",
    "GET /assessment/rounds/{round_p}/branches/office":            "login 404 404 404 404 404 404",
    "GET /assessment/rounds/{round_p}/branches/pediatrics/report": "login 200 403 200 200 200 200",
    # (the office inspects, but not during self-assessment: the store refuses, saying why)
    "POST /assessment/rounds/{round_s}/branches/pediatrics/items/three_meetings":
                                                "login  403    403    302+   400    403    403",
    "POST /assessment/rounds/{round_s}/branches/pediatrics/items/three_meetings/attachments":
                                                "login  403    403    302+   302    403    403",
    "GET /assessment/attachments/{att_a}":      "login  403    403    200    200    200    200",
    "GET /assessment/attachments/999999":       "login  404    404    404    404    404    404",
    "GET /corridor":                            "404    200    200    200    200    200    200",
    "GET /admin/assessment/scheme":             "login  403    403    403    200    403    200",
    "POST /admin/assessment/scheme":            "login  403    403    403    302+   403    302+",
    "GET /admin/assessment/scheme/1.json":      "login  403    403    403    200    403    200",
    "GET /admin/assessment/scheme/9.json":      "login  403    403    403    404    403    404",
    # -- the hospital's settings (the administrator), and the first run's set-up pages, gone
    # once set-up is over (as here: the hospital has staff accounts)
    "GET /admin/settings":                      "login  403    403    403    403    403    200",
    "POST /admin/settings":                     "login  403    403    403    403    403    302+",
    # -- the kiosks the administrator registered (counted apart from their address)
    "GET /admin/kiosks":                        "login  403    403    403    403    403    200",
    "POST /admin/kiosks":                       "login  403    403    403    403    403    302+",
    "POST /admin/kiosks/{kiosk}/revoke":        "login  403    403    403    403    403    302+",
    # -- the delivery log of the outbox (branch notifications, patients' texts, webhooks out)
    "GET /admin/deliveries":                    "login  403    403    403    403    403    200",
    "GET /admin/deliveries?kind=nothing":       "login  403    403    403    403    403    404",
    "GET /admin/deliveries/{delivery}/replay":  "405    405    405    405    405    405    405",
    "POST /admin/deliveries/{delivery}/replay": "login  403    403    403    403    403    302+",
    # -- a patient's request to erase their name and phone (the administrator)
    "GET /admin/personal-data":                 "login  403    403    403    403    403    200",
    "POST /admin/personal-data":                "login  403    403    403    403    403    200",
    "POST /admin/personal-data/{wish_c}/erase": "login  403    403    403    403    403    302+",
    "GET /setup":                               "404    404    404    404    404    404    404",
    "POST /setup/code":                         "404    404    404    404    404    404    404",
    "POST /setup/hospital":                     "404    404    404    404    404    404    404",
    "POST /setup/organisation":                 "404    404    404    404    404    404    404",
    "POST /setup/accounts":                     "404    404    404    404    404    404    404",
}
# fmt: on

# What a browser sends with each POST row, besides the CSRF token and the page's hidden fields.
SURVEY_ANSWERS = {"q_overall": "5", "q_recommend": "9", "q_comment": "护士很耐心"}
FORMS: dict[str, Any] = {
    "POST /kiosk/wish": {"text": "想借一个充电宝给手机充电", "department": ""},
    "POST /w/new": {"text": "想借一个充电宝给手机充电", "department": ""},
    "POST /s/{slug}": SURVEY_ANSWERS,
    "POST /t/{code_f}": {"rating": "2", "comment": "护士很耐心"},
    "POST /kiosk/t/{code_f}": {"rating": "5", "comment": "护士很耐心"},
    "POST /kiosk/s/{slug}": SURVEY_ANSWERS,
    "POST /login": {"username": "member_a", "password": PASSWORD},
    "POST /account/tokens": {"name": "微信小程序", "days": "30"},
    "POST /account/password": {
        "current": PASSWORD,
        "new": "晚霞 over the river 7",
        "confirm": "晚霞 over the river 7",
    },
    "POST /board/wishes/{wish_a}/claim": {"kind": "branch"},
    "POST /board/wishes/{wish_b}/claim": {"kind": "branch"},
    "POST /board/wishes/{wish_c}/fulfil": {"note": "已送去绘本十本"},
    "POST /board/wishes/{wish_f}/follow_up": {"confirmed": "yes"},
    "POST /board/wishes/{wish_c}/hand_back": {"reason": "人手不够"},
    "POST /board/wishes/{wish_a}/reroute": {"branch": "logistics", "reason": "志愿者更合适"},
    "POST /board/wishes/{wish_a}/decline": {"reason": "超出医院服务范围"},
    "POST /board/wishes/{wish_c}/assign": {"user": "{user_a}"},
    "POST /board/wishes/{wish_a}/notes": {"text": "家属下午三点后在病房"},
    "POST /board/wishes/{wish_a}/merge": {"duplicate": "{wish_t}"},
    "POST /inbox/webhook": {"kinds": ["assigned", "overdue"]},
    "POST /board/wishes/{wish_t}/triage": {"branch": "pediatrics"},
    "POST /admin/users/new": {
        "username": "newbie",
        "display_name": "新同事",
        "role": "member",
        "branch": "pediatrics",
        "active": "y",
    },
    "POST /admin/users/{user_b}": {
        "display_name": "王五",
        "role": "member",
        "branch": "logistics",
        "active": "y",
    },
    "POST /admin/users/import": lambda: {
        "file": (
            io.BytesIO("username,name,role,branch\nnew.one,新同事,member,pediatrics\n".encode()),
            "staff.csv",
        ),
    },
    "POST /admin/organisation/add/general_branch": {"code": "surgery-gb", "name": "外科总支"},
    "POST /admin/organisation/units/branch/pediatrics/rename": {"name": "儿童党支部"},
    "POST /admin/organisation/units/department/{ward}/place": {"kind": "ward", "campus": "东院"},
    "POST /admin/organisation/units/branch/pediatrics/serves": {"departments": ["lab"]},
    "POST /admin/organisation/units/branch/outpatient/move": {"direction": "down"},
    "POST /admin/organisation/merge": {"source": "logistics", "target": "pediatrics"},
    "POST /admin/organisation/routing": {
        "branch-parking": "office",
        "row_category": ["meals"],
        "row_department": ["ward-pediatrics"],
        "row_branch": ["pediatrics"],
    },
    "POST /admin/organisation/routing/suggestion": {"category": "parking", "branch": "office"},
    "POST /admin/organisation/routing/corrections": {"user": "1", "week": "2026-10"},
    "POST /admin/organisation/workbook": lambda: {
        "file": (io.BytesIO(organisation_workbook.template_xlsx()), "template.xlsx"),
    },
    "POST /admin/organisation/workbook/confirm": {"upload": "x" * 24 + ".xlsx", "fingerprint": "0"},
    "POST /admin/questionnaires/new": {"slug": "ward-survey", "title": "病区问卷"},
    "POST /admin/questionnaires/import": lambda: {
        "file": (
            io.BytesIO(
                json.dumps(
                    {**definitions.load_default(), "slug": "imported"}, ensure_ascii=False
                ).encode()
            ),
            "imported.json",
        ),
    },
    "POST {Q}/title": {"title_zh_Hans": "住院患者满意度调查（新）"},
    "POST {Q}/questions/new": {
        "type": "text",
        "key": "extra",
        "label_zh_Hans": "还有什么想告诉我们？",
    },
    "POST {Q}/questions/{key}": {
        "type": "rating",
        "key": "overall",
        "required": "y",
        "label_zh_Hans": "总体来说满意吗？",
    },
    "POST {Q}/preview-question?device=kiosk&lang=en": {
        "type": "single",
        "key": "ward_food",
        "label_zh_Hans": "饭菜怎么样？",
        "options-0-zh_Hans": "好",
        "options-1-zh_Hans": "不好",
    },
    "POST {Q}/versions/{draft}/preview": SURVEY_ANSWERS,
    "POST {Q}/open-days": {"action": "save", "opens_on": "2026-01-01"},
    "POST /assessment/rounds/new": {
        "name": "2027 年度",
        "first_day": "2027-01-01",
        "last_day": "2027-12-31",
        "branches": ["pediatrics", "logistics"],
    },
    "POST /assessment/rounds/{round_s}/moves/close_self_assessment": {},
    "POST /assessment/rounds/{round_s}/branches/pediatrics/items/three_meetings": {
        "points": "22.5",
        "note": "见会议记录本",
    },
    (
        "POST /assessment/rounds/{round_s}/branches/pediatrics/items/three_meetings/attachments"
    ): lambda: {"file": (io.BytesIO(PNG), "签到表.png")},
    "POST /admin/assessment/scheme": lambda: {
        "definition": json.dumps(
            {**assessment_scheme.load_default(), "name": "五化考评（修订）"}, ensure_ascii=False
        ),
    },
    "POST /admin/settings": {"setting": "WISHES_HOSPITAL_NAME", "value": "第一人民医院"},
    "POST /admin/kiosks": {"name": "门诊大厅 1 号机"},
    "POST /admin/personal-data": {"typed": "13812345678"},
    "POST /setup/code": {"code": "ABCDE-FGHJK"},
    "POST /setup/organisation": {"action": "demo"},
}

# GETs that write on purpose: endpoint -> (the only tables they may change, why).
READS_THAT_WRITE = {
    "dashboard.export": (
        {"audit_events"},
        "a download of figures is recorded in the audit log: who took which data",
    ),
    "tracking.wish_status": (
        {"rate_limits"},
        "tracking pages are counted per address so a script cannot walk the code space",
    ),
    "tracking_kiosk.wish_status": ({"rate_limits"}, "the same count on the kiosk"),
    "assessment.export": ({"audit_events"}, "a download of results is recorded, as above"),
    "questionnaire_admin.responses_download": (
        {"audit_events"},
        "a download of questionnaire responses is recorded, as above",
    ),
    "accounts.export_users": ({"audit_events"}, "a download of the staff list is recorded"),
}
# Columns any request may change: (table, column) -> why.
IGNORED_COLUMNS = {
    ("staff_sessions", "last_seen_at"): "a staff session's idle clock (ends an idle session)",
    ("inbox", "read_at"): "opening a wish or an inbox item reads what the inbox said of it",
}

ROWS = list(MATRIX)
GET_ROWS = [row for row in ROWS if row.startswith("GET ")]
POST_ROWS = [row for row in ROWS if row.startswith("POST ")]
# The patient forms check their token inside the form: a stale page comes back filled in.
FORM_CHECKS_TOKEN = {"intake", "intake_kiosk", "survey", "survey_kiosk"}
FORM_CHECKS_TOKEN |= {"tracking", "tracking_kiosk"}  # the tracking page's question (issue 19)


def cells(row: str) -> dict[str, str]:
    found = MATRIX[row].split()
    assert len(found) == len(VISITORS), row
    return dict(zip(VISITORS, found, strict=True))


# ---- sample data, built through the app's own code ----------------------------------------

TEXT_A = "希望儿科病房能有绘本给孩子看"
TEXT_B = "走廊尽头的灯坏了，晚上看不清路"
TEXT_C = "想给住院的孩子过个生日"
NAME_A = "李小红"
PHONES = {"wish_a": "13812345678", "wish_b": "13987654321", "wish_c": "13711112222"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _wish(db, text: str, branch: str | None, phone: str = "", name: str = "") -> dict:
    route = RouteDecision(
        suggestions=[("child_joy", 0.9 if branch else 0.4), ("companionship", 0.06)],
        tags=["儿科"],
        confident=branch is not None,
    )
    entry = WishEntry(
        text=text, channel="phone", phone=phone, contact_consent=bool(phone), patient_name=name
    )
    return lifecycle.submit(db, entry, route, branch)


def _config(data_dir: Path) -> dict[str, Any]:
    return {
        "TESTING": True,
        "WISHES_DATA_DIR": str(data_dir),
        "WISHES_MODELS_DIR": str(data_dir.parent / "models"),
    }


def build_samples(data_dir: Path) -> dict[str, Any]:
    """Staff, wishes in several states and the default questionnaire with an open draft."""
    app = create_app(_config(data_dir))
    with pytest.MonkeyPatch.context() as patch, connect(database_path(app)) as db:
        patch.setattr(accounts, "PASSWORD_METHOD", "scrypt:1024:8:1")
        organisation.load_organisation(db, organisation.read_organisation_file())
        users = {
            name: accounts.create_user(
                db, name, PASSWORD, role, branch_code=branch, display_name=name
            )
            for name, (role, branch) in STAFF.items()
        }
        member_a = Actor("staff", "member_a", users["member_a"]["id"])
        wish_a = _wish(db, TEXT_A, "pediatrics", PHONES["wish_a"], NAME_A)
        wish_b = _wish(db, TEXT_B, "logistics", PHONES["wish_b"])
        wish_c = _wish(db, TEXT_C, "pediatrics", PHONES["wish_c"])
        lifecycle.claim(db, wish_c["id"], member_a, ClaimantKind.BRANCH, "儿科党支部")
        wish_t = _wish(db, "想请人帮忙把轮椅推到楼下晒太阳", None)
        wish_f = _wish(db, "想要几本给孩子的故事书", "pediatrics")
        lifecycle.claim(db, wish_f["id"], member_a, ClaimantKind.BRANCH, "儿科党支部")
        photo = f"{wish_f['id']}-sample.png"
        (data_dir / "photos").mkdir(exist_ok=True)
        (data_dir / "photos" / photo).write_bytes(PNG)
        lifecycle.fulfil(db, wish_f["id"], member_a, "故事书已送到", photo=photo)

        qid = questionnaires.ensure_default(db)
        published = questionnaires.latest_version(db, qid)
        response, _new = questionnaires.store_response(
            db,
            published,
            questionnaires.answers_from(published, {"overall": 4, "comment": "护士很耐心"}),
            submission_id="sample-response",
            department_code=None,
            channel="phone",
        )
        title = {**published.definition["title"], "zh_Hans": "住院患者满意度调查（修订稿）"}
        draft = questionnaires.save_draft(db, qid, {**published.definition, "title": title}, "x")
        ward = organisation.departments(db)[0]["code"]

        office = audit.Who(label="triager")
        both = ["pediatrics", "logistics"]
        round_s = assessment.create_round(
            db, "本季度", date(2026, 10, 1), date(2026, 12, 31), both, office
        )
        attachment = data_dir / "attachments" / "sample.pdf"
        attachment.parent.mkdir(exist_ok=True)
        attachment.write_bytes(b"%PDF-1.4 sample")
        att_a = assessment.add_attachment(
            db,
            assessment.get_round(db, round_s),
            "pediatrics",
            "three_meetings",
            {
                "filename": "会议记录.pdf",
                "stored_name": "sample.pdf",
                "content_type": "application/pdf",
                "size": 15,
            },
            office,
        )
        round_p = assessment.create_round(
            db, "上季度", date(2026, 7, 1), date(2026, 9, 30), both, office
        )
        assessment.move(
            db,
            assessment.get_round(db, round_p),
            assessment.RoundMove.CLOSE_SELF_ASSESSMENT,
            office,
        )
        assessment.move(db, assessment.get_round(db, round_p), assessment.RoundMove.PUBLISH, office)
        kiosk, _token = kiosks.register(db, "住院部大厅", users["admin"]["id"])
        delivery = db.execute("SELECT min(id) FROM notifications").fetchone()[0]
    return {
        "kiosk": kiosk,
        "delivery": delivery,
        "stop_a": wish_a["texts_stop_token"],
        "response": response,
        "round_s": round_s,
        "round_p": round_p,
        "att_a": att_a,
        "wish_a": wish_a["id"],
        "wish_b": wish_b["id"],
        "wish_c": wish_c["id"],
        "wish_t": wish_t["id"],
        "wish_f": wish_f["id"],
        "code_a": wish_a["tracking_code"],
        "code_b": wish_b["tracking_code"],
        "code_f": wish_f["tracking_code"],
        "ward": ward,
        "slug": published.slug,
        "qid": qid,
        "vid": published.id,
        "draft": draft.id,
        "key": "overall",
        "user_a": users["member_a"]["id"],
        "user_b": users["member_b"]["id"],
        "Q": f"/admin/questionnaires/{qid}",
    }


@dataclass
class World:
    app: Any
    samples: dict[str, Any]

    def url(self, row: str) -> str:
        return row.split(" ", 1)[1].format(**self.samples)

    def client(self, visitor: str):
        """A browser of its own (own cookies, own address), logged in as `visitor`."""
        client = self.app.test_client()
        client.environ_base["REMOTE_ADDR"] = f"10.0.0.{list(VISITORS).index(visitor) + 1}"
        username = VISITORS[visitor]
        if username:
            assert login(client, username).status_code == 302
        return client


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("routes-template") / "data"
    return data_dir, build_samples(data_dir)


def open_world(template, data_dir: Path) -> World:
    """A copy of the sample data of its own, for a test that may change it."""
    source, samples = template
    shutil.copytree(source, data_dir)
    return World(create_app(_config(data_dir)), samples)


@pytest.fixture(scope="module")
def reading(template, tmp_path_factory):
    """One world shared by the read-only tests, with a logged-in browser per visitor."""
    world = open_world(template, tmp_path_factory.mktemp("routes-reading") / "data")
    return world, {visitor: world.client(visitor) for visitor in VISITORS}


# ---- what the database holds --------------------------------------------------------------


def dump(app) -> dict[str, list[tuple]]:
    """Every table's rows (order-free), with the IGNORED_COLUMNS blanked."""
    with closing(sqlite3.connect(database_path(app))) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        data = {}
        for table in tables:
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            blank = {
                i
                for i, column in enumerate(cursor.description)
                if (table, column[0]) in IGNORED_COLUMNS
            }
            rows = [tuple(None if i in blank else v for i, v in enumerate(r)) for r in cursor]
            data[table] = sorted(rows, key=repr)
    return data


def changed_tables(before: dict, after: dict) -> set[str]:
    return {
        table for table in before.keys() | after.keys() if before.get(table) != after.get(table)
    }


def endpoint_of(app, method: str, url: str) -> tuple[str, str]:
    """(endpoint, rule) that `url` reaches; a GET on a POST-only route names that route."""
    adapter = app.url_map.bind("localhost")
    path = urlsplit(url).path
    try:
        rule, _args = adapter.match(path, method=method, return_rule=True)
    except MethodNotAllowed:
        rule, _args = adapter.match(path, method="POST", return_rule=True)
    return rule.endpoint, rule.rule


def check_answer(response, cell: str, changed: set[str], allowed_writes: set[str] = frozenset()):
    expected = cell.rstrip("+")
    location = urlsplit(response.location or "").path
    got = response.status_code
    if expected == "login":
        assert (got, location) == (302, "/login"), (got, response.location)
    else:
        assert got == int(expected), (got, response.location, response.get_data(as_text=True)[:300])
        if got in (301, 302, 303):
            assert location != "/login"
    if cell.endswith("+"):
        assert changed, "the action should have changed the database"
    else:
        assert changed <= allowed_writes, f"changed {sorted(changed)}"


# ---- 1. no state change over GET ------------------------------------------------------------


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("row", GET_ROWS)
def test_a_get_answers_as_the_table_says_and_changes_nothing(reading, row, visitor):
    world, clients = reading
    client, url = clients[visitor], world.url(row)
    endpoint, _rule = endpoint_of(world.app, "GET", url)
    allowed = READS_THAT_WRITE.get(endpoint, (set(), ""))[0]
    for method in ("GET", "HEAD"):
        before = dump(world.app)
        response = client.open(url, method=method)
        try:
            body = response.get_data()
        finally:
            response.close()
        check_answer(
            response, cells(row)[visitor], changed_tables(before, dump(world.app)), allowed
        )
        for phone in PHONES.values():  # no page ever shows a full phone number
            assert phone.encode() not in body


def test_a_tracking_page_shows_that_wish_alone(reading):
    world, clients = reading
    samples = world.samples
    for path in (f"/t/{samples['code_a']}", f"/kiosk/t/{samples['code_a']}"):
        html = clients["anon"].get(path).get_data(as_text=True)
        assert TEXT_A in html
        for other in (
            TEXT_B,
            TEXT_C,
            samples["code_b"],
            NAME_A,
            PHONES["wish_a"],
            PHONES["wish_a"][-4:],
        ):
            assert other not in html


# ---- 2. POSTs: the real forms, as each visitor ----------------------------------------------


def page_fields(client, url: str) -> dict[str, str]:
    """The hidden fields a browser would send: the form page's own, or the login page's token."""
    response = client.get(url)
    html = response.get_data(as_text=True) if response.status_code == 200 else ""
    if 'name="csrf_token"' not in html:
        html = client.get("/login").get_data(as_text=True)
    return dict(
        re.findall(r'name="(csrf_token|submission_id)" type="hidden" value="([^"]*)"', html)
    )


def form_for(row: str, samples: dict[str, Any] | None = None) -> dict[str, Any]:
    """The row's fields; "{name}" in a value is the sample of that name (a wish's id, say)."""
    form = FORMS.get(row, {})
    fields = form() if callable(form) else dict(form)
    if not samples:
        return fields

    def sample(found: re.Match) -> str:
        return str(samples.get(found.group(1), found.group(0)))

    return {
        name: re.sub(r"\{(\w+)\}", sample, value) if isinstance(value, str) else value
        for name, value in fields.items()
    }


@pytest.mark.parametrize("visitor", VISITORS)
@pytest.mark.parametrize("row", POST_ROWS)
def test_a_form_post_answers_as_the_table_says(template, tmp_path, row, visitor):
    world = open_world(template, tmp_path / "data")
    client, url = world.client(visitor), world.url(row)
    data = {**page_fields(client, url), **form_for(row, world.samples)}
    before = dump(world.app)
    response = client.post(url, data=data)
    body = response.get_data().decode("utf-8", "replace")  # a download answers some forms
    check_answer(response, cells(row)[visitor], changed_tables(before, dump(world.app)))
    revealed = [phone for phone in PHONES.values() if phone in body]
    if row.endswith("/reveal-phone") and response.status_code == 200:
        assert revealed == [PHONES["wish_c"]]
    else:
        assert revealed == []


def _actor_for(row: str) -> str:
    """A logged-in visitor the table lets through, so that only the token can refuse the POST."""
    staff = {visitor: cell for visitor, cell in cells(row).items() if visitor != "anon"}
    acting = [visitor for visitor, cell in staff.items() if cell.endswith("+")]
    let_through = [visitor for visitor, cell in staff.items() if cell[0] in "23"]
    return (acting or let_through or list(staff))[0]


@pytest.mark.parametrize("token", ["missing", "foreign"])
@pytest.mark.parametrize("row", POST_ROWS)
def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(
    template, tmp_path, row, token
):
    world = open_world(template, tmp_path / "data")
    client, url = world.client(_actor_for(row)), world.url(row)
    data = {**page_fields(client, url), **form_for(row, world.samples)}
    if token == "missing":
        del data["csrf_token"]
    else:  # a valid token, but of another browser's session
        data["csrf_token"] = page_fields(world.client("anon"), "/login")["csrf_token"]
    before = dump(world.app)
    response = client.post(url, data=data)
    blueprint = endpoint_of(world.app, "POST", url)[0].split(".")[0]
    may_write: set[str] = set()  # what the GET it is sent back to writes (READS_THAT_WRITE)
    if blueprint in FORM_CHECKS_TOKEN:  # back to the form (post/redirect/get), as typed
        assert response.status_code == 303
        assert urlsplit(response.location).path == urlsplit(url).path
        back = endpoint_of(world.app, "GET", urlsplit(response.location).path)[0]
        may_write = READS_THAT_WRITE.get(back, (set(), ""))[0]
        response = client.get(response.location)
    else:
        assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert changed_tables(before, dump(world.app)) - may_write == set()
    if blueprint in FORM_CHECKS_TOKEN:  # the form again, filled in, with a word on why
        assert "页面停留太久已过期" in html and f'action="{urlsplit(url).path}"' in html
        typed = data.get("text") or "护士很耐心"
        assert typed in html
    else:
        assert "<h1>页面已过期</h1>" in html


# ---- the table covers every route -----------------------------------------------------------


def test_the_table_has_a_row_for_every_route_and_method(reading):
    world, _clients = reading
    app = world.app
    # The JSON API (/api/v1) answers programs with tokens, not visitors with cookies: its
    # routes are tested in tests/test_api.py (each behaviour) and tests/test_api_schemathesis.py
    # (every operation against the running server, as its OpenAPI document declares).
    routes = {
        (rule.endpoint, rule.rule): rule.methods
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.rule.startswith("/api/")
    }
    for methods in routes.values():
        assert methods <= {"GET", "HEAD", "POST", "OPTIONS"}  # CSRF guards POST; nothing else
    got: dict[str, set] = {"GET": set(), "POST": set()}
    for row in ROWS:
        method = row.split(" ", 1)[0]
        got[method].add(endpoint_of(app, method, world.url(row)))
    assert got["GET"] | got["POST"] == set(routes), "a route without a row in MATRIX"
    assert {route for route, methods in routes.items() if "POST" in methods} <= got["POST"]
    assert {route for route, methods in routes.items() if "GET" in methods} <= got["GET"]
    assert set(FORMS) <= set(POST_ROWS)

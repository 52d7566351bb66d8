"""The dashboard's filters: a query string, so a view can be bookmarked and shared."""

from __future__ import annotations

from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from wtforms import DateField, Form, SelectField
from wtforms.validators import Optional

from .figures import PERIODS, Filters

# The range shown when none is chosen: enough whole periods for a trend to mean something.
DEFAULT_PERIODS = {"week": 12, "month": 12, "quarter": 8}
LONGEST_SPAN = timedelta(days=5 * 366)
# Dates the dashboard can show: the app's figures begin long after 2000 and will end before 2100
# (and comparing with "the range before" must stay inside the calendar).
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


class DashboardFilterForm(Form):
    period = SelectField(_l("按"), choices=lambda: list(PERIODS.items()), validate_choice=False)
    first = DateField(_l("从"), validators=[Optional()])
    last = DateField(_l("到"), validators=[Optional()])
    department = SelectField(_l("科室"), choices=[], validate_choice=False)
    questionnaire = SelectField(_l("问卷"), choices=[], validate_choice=False)

    def set_choices(self, departments: list[dict], questionnaires: list[dict]) -> None:
        self.department.choices = [("", "全院")] + [(d["code"], d["name"]) for d in departments]
        self.questionnaire.choices = [(q["slug"], q["title"]) for q in questionnaires]

    def filters(self, today: date, questionnaire_ids: dict[str, int], minimum: int) -> Filters:
        """The filters asked for; anything unusable is reported on the form and defaulted."""
        self.validate()
        period = self.period.data if self.period.data in PERIODS else "week"
        self.period.data = period
        for field in (self.first, self.last):
            if field.data and not EARLIEST <= field.data <= LATEST:
                field.errors = [*field.errors, f"日期须在 {EARLIEST.year} 到 {LATEST.year} 年之间"]
        last = self.last.data if not self.last.errors and self.last.data else today
        first = self.first.data if not self.first.errors and self.first.data else None
        if first is None:
            first = periods_back(last, period, DEFAULT_PERIODS[period] - 1)
        if first > last:
            self.last.errors = [*self.last.errors, "结束日期早于开始日期，已对调"]
            first, last = last, first
        if last - first > LONGEST_SPAN:
            self.first.errors = [*self.first.errors, "一次最多查看 5 年，已缩短"]
            first = last - LONGEST_SPAN
        self.first.data, self.last.data = first, last
        departments = {code for code, _label in self.department.choices}
        department = self.department.data if self.department.data in departments else ""
        self.department.data = department
        slugs = list(questionnaire_ids)
        slug = self.questionnaire.data if self.questionnaire.data in questionnaire_ids else None
        slug = slug or (slugs[0] if slugs else None)
        self.questionnaire.data = slug
        return Filters(
            first,
            last,
            period,
            department or None,
            questionnaire_ids.get(slug) if slug else None,
            minimum,
        )


def periods_back(day: date, period: str, count: int) -> date:
    """The first day of the period `count` periods before the one holding `day`."""
    if period == "week":
        return day - timedelta(days=day.weekday(), weeks=count)
    months = 3 if period == "quarter" else 1
    index = day.year * 12 + (day.month - 1) // months * months - count * months
    return date(index // 12, index % 12 + 1, 1)

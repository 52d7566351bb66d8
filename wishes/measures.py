"""Which wishes each of the assessment's wish figures counts, as SQL over `wishes w`.

The branch sheet's figures (assessment/metrics.py) and the board behind each figure's link
(`/board?counted=…`) read the same rule, so a sheet's "统计 42 条" opens a board of 42 wishes
(issue 21, item 7). `:claim_cutoff` is `deadlines.overdue_params`'s: a wish still inside its
time to be claimed is not judged yet.
"""

from __future__ import annotations

COUNTED = {
    # claimed, or still unclaimed past the limit
    "claim_in_time_share": (
        "(w.claim_minutes IS NOT NULL OR (w.state = 'open' AND w.routed_at < :claim_cutoff))"
    ),
    # every wish but the declined
    "fulfilment_rate": "w.state != 'declined'",
    # the fulfilled, with the time they took
    "median_fulfil_hours": "w.fulfil_minutes IS NOT NULL",
    # the fulfilled (confirmed or not at the follow-up call)
    "confirmed_share": "w.state IN ('fulfilled', 'followed_up')",
    # the ones the patient answered about on the tracking page (issue 19, item 2)
    "patient_rating": "w.id IN (SELECT wish_id FROM wish_ratings)",
}

# What the board says it shows, in the staff's words.
SHOWN = {
    "claim_in_time_share": "计入“按时认领率”的心愿：已认领的，和超过认领时限仍未认领的",
    "fulfilment_rate": "计入“实现率”的心愿：除婉拒外的全部心愿",
    "median_fulfil_hours": "计入“实现用时中位数”的心愿：已实现的心愿",
    "confirmed_share": "计入“回访确认率”的心愿：已实现的心愿",
    "patient_rating": "计入“患者评价均分”的心愿：患者在查询页评价过办理结果的心愿",
}

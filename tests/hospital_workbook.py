"""The organisation of a hospital like the seed articles' (6 general branches, 34 branches, 24
departments and wards on a main and an east campus), as the rows of the organisation workbook.

Shared by the workbook tests and the browser test of a fresh install."""

from __future__ import annotations

GENERAL_BRANCHES = "机关党总支 内科党总支 外科党总支 医技党总支 东院党总支 后勤党总支".split()
BRANCHES = """
    党委办公室党支部 院办党支部 医务护理党支部 财务审计党支部 信息中心党支部
    离退休党支部 心血管内科党支部 呼吸内科党支部 消化内科党支部 神经内科党支部
    肾内科党支部 内分泌科党支部 普外科党支部 骨科党支部 神经外科党支部
    泌尿外科党支部 妇产科党支部 儿科党支部 检验科党支部 放射科党支部
    超声科党支部 药学党支部 病理科党支部 急诊重症党支部 东院内科党支部
    东院外科党支部 东院医技党支部 东院护理党支部 东院门诊党支部 东院行政党支部
    总务后勤党支部 保卫党支部 膳食服务党支部 设备物资党支部
""".split()
DEPARTMENTS = """
    门诊大厅 心内科病区 呼吸科 消化内科病区 神经内科 肾内科病区 内分泌科
    普外科病区 骨科 神经外科病区 泌尿外科 妇产科病区 儿科门诊 儿科病区
    急诊科 重症医学病区 东院门诊 东院内科病区 东院检验科 东院外科病区
    东院影像科 东院康复病区 东院药房 东院老年病区
""".split()


def hospital_rows() -> dict[str, list[dict[str, str]]]:
    """Every sheet's rows; codes are general-N, branch-NN, and ward-NN or dept-NN."""
    general = [
        {"code": f"general-{i}", "name": name, "name_en": f"General Branch {i}"}
        for i, name in enumerate(GENERAL_BRANCHES, start=1)
    ]
    branches = [
        {
            "code": f"branch-{n:02d}",
            "name": name,
            "name_en": "" if n % 5 == 0 else f"Party Branch {n}",
            "general_branch": f"general-{(n - 1) % 6 + 1}",
            "scope": f"{name}负责的患者需求",
        }
        for n, name in enumerate(BRANCHES, start=1)
    ]
    departments = [
        {
            "code": f"{'ward' if name.endswith('病区') else 'dept'}-{n:02d}",
            "name": name,
            "name_en": f"Unit {n}",
            "kind": "ward" if name.endswith("病区") else "department",
            "campus": "东院" if name.startswith("东院") else "本部",
        }
        for n, name in enumerate(DEPARTMENTS, start=1)
    ]
    serves = [
        {"branch": branch["code"], "department": departments[i % 24]["code"]}
        for i, branch in enumerate(branches)
    ]
    routing = [
        {"category": "meals", "department": "", "branch": "branch-07"},
        {"category": "meals", "department": "ward-14", "branch": "branch-08"},
        {"category": "room_repairs", "department": "", "branch": "branch-12"},
    ]
    return {
        "general_branches": general,
        "branches": branches,
        "departments": departments,
        "serves": serves,
        "routing": routing,
    }

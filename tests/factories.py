"""Small factories for valid entities and events; override any field by keyword."""

from __future__ import annotations

from typing import Any

from models.entities import Investor, Project
from models.events import Event
from models.roadshows import Roadshow


def project(**overrides: Any) -> Project:
    fields: dict[str, Any] = {
        "name": "视觉质检 VisionQC",
        "summary": "基于深度学习的工业视觉质检系统，服务宁波注塑和五金工厂。",
        "sectors": ["smart_manufacturing", "ai"],
        "stage": "seed",
        "amount_sought_cny": 3_000_000,
        "city": "宁波",
        "founder_background": "researcher",
        "incubator": "宁波智造众创空间",
        "team_size": 8,
        "traction": "3家工厂试点",
        "contact": {"email": "founder@visionqc.example", "phone": "13800000000"},
    }
    fields.update(overrides)
    return Project.model_validate(fields)


def investor(**overrides: Any) -> Investor:
    fields: dict[str, Any] = {
        "name": "钱塘天使 Qiantang Angels",
        "kind": "angel_group",
        "organization": "钱塘天使",
        "thesis": "投资浙江早期硬科技：智能制造、工业视觉与机器人。Early-stage industrial AI in Zhejiang.",
        "sectors": ["smart_manufacturing", "ai", "robotics"],
        "stages": ["seed", "angel"],
        "ticket_min_cny": 500_000,
        "ticket_max_cny": 5_000_000,
        "cities": ["杭州", "宁波"],
        "capacity_per_month": 3,
        "contact": {"email": "deals@qiantang.example"},
        "portfolio": [{"name": "慧眼机器人", "sectors": ["robotics"], "description": "仓储机器人视觉导航"}],
    }
    fields.update(overrides)
    return Investor.model_validate(fields)


def event(kind: str, entity_id: str, payload: Any, version: int = 1, actor: str = "test") -> Event:
    return Event(type=kind, entity_id=entity_id, entity_version=version, actor=actor, payload=payload)


def roadshow(**overrides: Any) -> Roadshow:
    fields: dict[str, Any] = {
        "organizer_id": "org-1", "title": "智能制造路演 Smart manufacturing roadshow",
        "theme": "工业视觉、机器人和智能工厂 industrial AI and robotics", "sectors": ["smart_manufacturing", "ai"],
        "city": "宁波", "date": "2026-12-10", "n_projects": 3, "m_investors": 3, "slots": 3, "tables": 3,
    }
    fields.update(overrides)
    return Roadshow.model_validate(fields)


def sample_payload(event_type: str) -> Any:
    """A valid payload for any registered event type; a new payload model without a sample fails loudly."""
    from models.alerts import AlertDelivery, AlertMatch, AlertSettings, AlertsRead, MatchAlert, SavedSearch, alert_id
    from models.events import PAYLOADS, ApiKey, Feedback, Intro
    from models.roadshows import Roadshow

    samples: dict[type, Any] = {
        Project: project(summary="跨境电商 AI 选品 🚀 for Yiwu sellers"),
        Investor: investor(),
        Feedback: Feedback(investor_id="i-1", project_id="p-1", action="passed", reason="太早 too early"),
        Intro: Intro(project_id="p-1", investor_id="i-1", requested_by="founder"),
        ApiKey: ApiKey(key_hash="a" * 64, role="founder", entity_id="f-1"),
        Roadshow: roadshow(),
        SavedSearch: SavedSearch(owner_role="investor", owner_id="i-1", name="视觉 AI", text="视觉"),
        AlertSettings: AlertSettings(recipient_role="investor", recipient_id="i-1"),
        MatchAlert: MatchAlert(alert_id=alert_id("investor:i-1", "project", "p-1", 1), recipient_role="investor",
                               recipient_id="i-1", subject_kind="project", subject_id="p-1", subject_version=1,
                               matches=[AlertMatch(investor_id="i-1", project_id="p-1", score=0.7, via=["profile"])]),
        AlertDelivery: AlertDelivery(delivery_id="b" * 32, recipient_role="investor", recipient_id="i-1",
                                     alert_ids=["c" * 32], kind="instant", status="delivered"),
        AlertsRead: AlertsRead(recipient_role="investor", recipient_id="i-1", alert_ids=["c" * 32]),
    }
    return samples[PAYLOADS[event_type]]

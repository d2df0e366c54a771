//! A demo street, so a newcomer sees a working system at once. It is built through the API
//! itself, in process, so the data passes the same validation and access rules as any client's.

use axum::{
    body::Body,
    http::{header, Method, Request},
    Router,
};
use serde_json::{json, Value};
use tower::ServiceExt;
use uuid::Uuid;

use crate::AppState;
use gongjian_core::{
    domain::{
        access::{Principal, RoleKind},
        token::CreateToken,
    },
    service::{
        sessions,
        tokens::{issue, TokenSubject},
    },
    store::{db::Db, tokens},
};

struct Client {
    router: Router,
    token: String,
}

impl Client {
    async fn send(&self, method: Method, path: &str, body: Value) -> anyhow::Result<Value> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&body)?))?;
        let res = self.router.clone().oneshot(req).await?;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await?;
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        anyhow::ensure!(
            status.is_success(),
            "demo request {path} failed with {status}: {value}"
        );
        Ok(value)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let v = self.send(Method::POST, path, body).await?;
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }
}

async fn token(
    db: &Db,
    role: RoleKind,
    name: &str,
    street: Option<Uuid>,
    unit: Option<Uuid>,
    volunteer: Option<Uuid>,
) -> anyhow::Result<String> {
    let req = CreateToken {
        role,
        name: name.into(),
        street_id: street,
        unit_id: unit,
        volunteer_id: volunteer,
    };
    let subject = TokenSubject::resolve(db.write(), req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(issue(db, subject, None, time::OffsetDateTime::now_utc())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .token)
}

/// The logins a demo prints: a token and a one-time console sign-in link for each role.
pub struct DemoLogins {
    /// (role, token, who it is).
    pub lines: Vec<(&'static str, String, &'static str)>,
    /// (role, the secret of its sign-in link: `/console/link/<secret>`).
    pub links: Vec<(&'static str, String)>,
}

/// A one-time console sign-in link for a new token of `req`'s role and subject, issued by the
/// district.
async fn sign_in_link(
    state: &AppState,
    district: &Principal,
    req: CreateToken,
) -> anyhow::Result<String> {
    Ok(sessions::issue_link(state, district, req)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .secret)
}

/// Fills an empty database with the demo street. Returns `None` when there is data already.
pub async fn fill(db: &Db) -> anyhow::Result<Option<DemoLogins>> {
    let (streets,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM streets")
        .fetch_one(db.read())
        .await?;
    if streets > 0 {
        return Ok(None);
    }
    let router = crate::app(AppState::new(db.clone()));
    let district = token(
        db,
        RoleKind::DistrictAdmin,
        "演示：区级管理员",
        None,
        None,
        None,
    )
    .await?;
    let c = Client {
        router,
        token: district.clone(),
    };

    let street = c
        .post(
            "/api/v1/streets",
            json!({"name": "市西街道", "code": "shixi", "district": "滨城区"}),
        )
        .await?;
    let sid = Uuid::parse_str(&street)?;
    let mut grids = vec![];
    for (ci, community) in ["魏鑫社区", "许家社区", "双湖社区"].iter().enumerate() {
        let cid = c
            .post(
                &format!("/api/v1/streets/{street}/communities"),
                json!({"name": community}),
            )
            .await?;
        for g in 1..=3 {
            let code = format!("{}-{:02}", ["wx", "xj", "sh"][ci], g);
            let name = format!("{}第{}网格", community.trim_end_matches("社区"), g);
            grids.push(
                c.post(&format!("/api/v1/streets/{street}/grids"),
                    json!({"community_id": cid, "code": code, "name": name, "households": 320 + 40 * g})).await?,
            );
        }
    }
    c.post(
        &format!("/api/v1/streets/{street}/categories"),
        json!({"code": "psychology", "label": "心理疏导"}),
    )
    .await?;

    let units = [
        (
            "滨州市人民医院",
            "hospital",
            "王建国",
            "0543-3258000",
            "签约家庭医生、义诊",
        ),
        (
            "滨城区司法局市西司法所",
            "agency",
            "刘静",
            "0543-3211148",
            "法律援助、人民调解",
        ),
        (
            "滨州实验学校",
            "school",
            "陈晓梅",
            "0543-3162020",
            "四点半课堂、假期托管",
        ),
        (
            "红色物业服务中心",
            "property_manager",
            "赵海涛",
            "13905431234",
            "老旧小区维修、环境整治",
        ),
        (
            "滨州广播电台",
            "agency",
            "孙悦",
            "0543-3188888",
            "政策宣讲、文化活动",
        ),
        (
            "美团滨城站",
            "enterprise",
            "李强",
            "13805437788",
            "骑手随手拍、应急配送",
        ),
        (
            "市西社工站",
            "social_organisation",
            "周敏",
            "13605436655",
            "助洁、助餐、助医",
        ),
    ];
    let mut unit_ids = vec![];
    for (name, kind, contact, phone, desc) in units {
        unit_ids.push(
            c.post(
                "/api/v1/units",
                json!({"name": name, "kind": kind, "contact_name": contact,
                "contact_phone": phone, "description": desc, "street_ids": [street]}),
            )
            .await?,
        );
    }

    let volunteers = [
        ("张志强", &["维修", "水电"][..], "党员先锋队", true),
        ("李秀兰", &["陪护", "助餐"][..], "巾帼志愿队", true),
        ("王磊", &["法律"][..], "法律服务队", true),
        ("刘芳", &["心理疏导", "陪护"][..], "巾帼志愿队", false),
        ("陈刚", &["维修", "电器"][..], "党员先锋队", true),
        ("杨丽", &["辅导", "英语"][..], "青年志愿队", false),
        ("赵军", &["巡逻", "安全"][..], "平安志愿队", true),
        ("孙梅", &["助洁", "助餐"][..], "巾帼志愿队", false),
        ("周涛", &["义诊", "护理"][..], "医护志愿队", true),
        ("吴静", &["辅导", "书法"][..], "青年志愿队", false),
        ("郑伟", &["环境", "绿化"][..], "党员先锋队", true),
        ("黄敏", &["陪护", "心理疏导"][..], "医护志愿队", true),
    ];
    let mut volunteer_ids = vec![];
    for (i, (name, skills, team, party)) in volunteers.iter().enumerate() {
        let day = ["sat", "sun", "wed", "fri"][i % 4];
        volunteer_ids.push(
            c.post("/api/v1/volunteers", json!({"name": name, "phone": format!("1380543{:04}", 1000 + i),
                "home_grid_id": grids[i % grids.len()], "skills": skills, "team": team, "party_member": party,
                "availability": [{"day": day, "start": "08:30", "end": "11:30"}, {"day": "tue", "start": "14:00", "end": "17:00"}]})).await?,
        );
    }

    let resources = [
        (
            0,
            "免费体检（65岁以上）",
            "medical",
            &["体检", "老人"][..],
            120,
        ),
        (0, "家庭医生上门随访", "medical", &["慢病", "上门"][..], 40),
        (1, "法律咨询与援助", "legal", &["法律援助"][..], 60),
        (2, "四点半课堂", "education", &["课后托管"][..], 80),
        (3, "楼道照明维修", "repair", &["照明", "楼道"][..], 30),
        (3, "小区环境整治", "environment", &["垃圾清运"][..], 10),
        (4, "政策宣讲进社区", "other", &["宣讲"][..], 12),
        (5, "应急物资配送", "safety", &["配送"][..], 50),
        (
            6,
            "助洁助餐服务",
            "elderly_care",
            &["助餐", "助洁"][..],
            100,
        ),
        (6, "党群服务中心活动室", "venue", &["场地"][..], 20),
    ];
    for (owner, title, category, tags, capacity) in resources {
        c.post(
            "/api/v1/resources",
            json!({"owner_unit_id": unit_ids[owner], "title": title, "category": category,
            "tags": tags, "capacity": capacity, "street_ids": [street]}),
        )
        .await?;
    }
    c.post(
        "/api/v1/resources",
        json!({"owner_volunteer_id": volunteer_ids[0], "title": "家电小修", "category": "repair",
        "tags": ["电器"], "capacity": 8}),
    )
    .await?;

    let grid_worker = token(
        db,
        RoleKind::GridWorker,
        "演示：魏鑫社区网格员",
        Some(sid),
        None,
        None,
    )
    .await?;
    let gw = Client {
        router: c.router.clone(),
        token: grid_worker.clone(),
    };
    let demands = [
        (
            0,
            "elderly_care",
            "high",
            "hotline",
            "独居老人行动不便，需要每周两次上门助浴",
            "张桂英",
            "魏鑫家园3号楼2单元501",
        ),
        (
            1,
            "repair",
            "normal",
            "grid_worker",
            "楼道声控灯损坏，夜间老人上下楼不安全",
            "李国华",
            "魏鑫家园7号楼1单元",
        ),
        (
            2,
            "medical",
            "high",
            "visit",
            "高血压老人需要定期测量血压并调整用药",
            "王淑珍",
            "魏鑫家园12号楼3单元202",
        ),
        (
            3,
            "legal",
            "normal",
            "app",
            "咨询赡养费纠纷的法律途径",
            "赵明",
            "许家小区5号楼1单元302",
        ),
        (
            4,
            "education",
            "low",
            "grid_worker",
            "双职工家庭孩子放学后无人看护",
            "孙丽",
            "许家小区9号楼2单元601",
        ),
        (
            5,
            "environment",
            "normal",
            "hotline",
            "小区东门垃圾堆放多日未清运",
            "周建",
            "许家小区东门",
        ),
        (
            6,
            "psychology",
            "normal",
            "visit",
            "失独老人情绪低落，需要心理疏导",
            "吴秀云",
            "双湖家园2号楼1单元101",
        ),
        (
            7,
            "safety",
            "critical",
            "hotline",
            "楼顶水箱漏水，电表箱进水有漏电风险",
            "郑强",
            "双湖家园8号楼",
        ),
        (
            8,
            "elderly_care",
            "normal",
            "grid_worker",
            "老人希望中午能在社区助餐点就餐",
            "冯玉兰",
            "双湖家园4号楼2单元402",
        ),
        (
            0,
            "repair",
            "high",
            "app",
            "家中水管爆裂，需要紧急维修",
            "陈芳",
            "魏鑫家园1号楼1单元102",
        ),
        (
            3,
            "venue",
            "low",
            "api",
            "居民合唱队需要每周一次的排练场地",
            "何静",
            "许家小区活动中心",
        ),
        (
            6,
            "medical",
            "normal",
            "hotline",
            "行动不便老人需要陪同到医院复诊",
            "高志明",
            "双湖家园6号楼3单元301",
        ),
    ];
    for (i, (grid, category, urgency, channel, description, name, address)) in
        demands.iter().enumerate()
    {
        gw.post("/api/v1/demands", json!({"grid_id": grids[*grid], "category": category, "urgency": urgency,
            "channel": channel, "description": description,
            "resident": {"name": name, "phone": format!("1390543{:04}", 2000 + i), "address": format!("滨城区市西街道{address}")}})).await?;
    }

    let admin = token(
        db,
        RoleKind::StreetAdmin,
        "演示：市西街道管理员",
        Some(sid),
        None,
        None,
    )
    .await?;
    let sa = Client {
        router: c.router.clone(),
        token: admin.clone(),
    };
    let p1 = sa.post("/api/v1/projects", json!({"street_id": street, "title": "老旧小区楼道照明改造",
        "description": "魏鑫家园、许家小区共 14 栋楼的楼道灯更换为声光控节能灯", "goal": "年底前完成 14 栋楼改造",
        "budget_fen": 8_600_000})).await?;
    sa.send(
        Method::PATCH,
        &format!("/api/v1/projects/{p1}"),
        json!({"status": "published"}),
    )
    .await?;
    sa.post("/api/v1/projects", json!({"street_id": street, "title": "“四点半课堂”暑期托管",
        "description": "联合滨州实验学校开设暑期托管班，解决双职工家庭看护难题", "goal": "服务 80 名学生",
        "budget_fen": 2_400_000})).await?;

    let unit_token = token(
        db,
        RoleKind::Unit,
        "演示：滨州市人民医院",
        None,
        Some(Uuid::parse_str(&unit_ids[0])?),
        None,
    )
    .await?;
    let volunteer_token = token(
        db,
        RoleKind::Volunteer,
        "演示：张志强",
        None,
        None,
        Some(Uuid::parse_str(&volunteer_ids[0])?),
    )
    .await?;
    let state = AppState::new(db.clone());
    let district_principal = tokens::resolve(db.read(), &district)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("the demo's district token does not resolve"))?;
    let link = |role, name: &str, street, unit, volunteer| CreateToken {
        role,
        name: format!("演示登录：{name}"),
        street_id: street,
        unit_id: unit,
        volunteer_id: volunteer,
    };
    let unit = Uuid::parse_str(&unit_ids[0])?;
    let volunteer = Uuid::parse_str(&volunteer_ids[0])?;
    let mut links = vec![];
    for (role, req) in [
        (
            "district admin",
            link(RoleKind::DistrictAdmin, "滨城区", None, None, None),
        ),
        (
            "street admin",
            link(RoleKind::StreetAdmin, "市西街道", Some(sid), None, None),
        ),
        (
            "grid worker",
            link(
                RoleKind::GridWorker,
                "市西街道网格员",
                Some(sid),
                None,
                None,
            ),
        ),
        (
            "unit",
            link(RoleKind::Unit, "滨州市人民医院", None, Some(unit), None),
        ),
        (
            "volunteer",
            link(RoleKind::Volunteer, "张志强", None, None, Some(volunteer)),
        ),
    ] {
        links.push((role, sign_in_link(&state, &district_principal, req).await?));
    }
    Ok(Some(DemoLogins {
        links,
        lines: vec![
            ("district admin", district, "滨城区"),
            ("street admin", admin, "市西街道"),
            ("grid worker", grid_worker, "市西街道 魏鑫社区"),
            ("unit", unit_token, "滨州市人民医院"),
            ("volunteer", volunteer_token, "张志强"),
        ],
    }))
}

/// Fills the demo street if the database is empty and prints how to log in to the service
/// at `listen`.
pub async fn fill_and_report(db: &Db, listen: std::net::SocketAddr) -> anyhow::Result<()> {
    match fill(db).await? {
        None => {
            eprintln!("the database already has data; the demo street was not added");
        }
        Some(logins) => {
            println!("Demo street 市西街道 (滨城区) is ready: 3 communities, 9 grids, 7 co-building units,");
            println!("12 volunteers, 11 resources, 12 demands and 2 projects.");
            println!();
            println!("Log in with one of these tokens (send `Authorization: Bearer <token>`):");
            for (role, token, who) in &logins.lines {
                println!("  {role:<15} {token}  {who}");
            }
            println!();
            println!("Try:  curl -H \"Authorization: Bearer <street admin token>\" http://{listen}/api/v1/demands");
            println!("API docs: http://{listen}/api/v1/docs");
            println!();
            println!(
                "Or open the web console, http://{listen}/console, with a one-time sign-in link"
            );
            println!(
                "(each works once, for three days; a street admin issues more under 人员与登录):"
            );
            for (role, secret) in &logins.links {
                println!("  {role:<15} http://{listen}/console/link/{secret}");
            }
        }
    }
    Ok(())
}

//! WeCom (企业微信) group robots: what a robot is sent and what its answer means.
//!
//! A robot is an address (`https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…`) that
//! posts a markdown message into one group chat. Its `key` is the robot's only credential, so
//! it is shown masked. A group is wider than the people who must know a resident, so a
//! message names the grid, the category, the urgency and the resident's window, and never the
//! resident: no name, no phone, no address, and every run of digits long enough to be a phone
//! or an identity number in a note is blotted out. The robot takes at most
//! [`PER_MINUTE`] messages a minute; what would overflow is folded into one [`summary`].

use serde_json::json;

use super::{
    notification::{NotificationType, Refusal},
    Check, Urgency, LOCAL_OFFSET,
};

/// The most messages a robot takes in any minute.
pub const PER_MINUTE: i64 = 20;

/// The most bytes of a markdown message's content a robot takes.
pub const MAX_CONTENT_BYTES: usize = 4096;

/// Runs of this many digits or more (spaces and dashes between them allowed) are blotted out
/// of any free text a message carries: an 11-digit mobile number, an 18-character identity
/// number, a landline with its area code.
const DIGITS_BLOTTED: usize = 7;

/// Checks a robot's address: it must carry the robot's `key` (letters, digits, `-` and `_`;
/// a masked key, as a listing shows it, is refused).
pub fn check_robot_url(c: &mut Check, url: &str) {
    let Ok(parsed) = url::Url::parse(url.trim()) else {
        return; // The URL's own check says why.
    };
    let key = parsed
        .query_pairs()
        .find(|(name, _)| name == "key")
        .map(|(_, v)| v.into_owned());
    match key {
        None => c.push(
            "url",
            "invalid_url",
            "a WeCom robot's address carries its key: …/cgi-bin/webhook/send?key=…",
        ),
        Some(k)
            if k.is_empty()
                || !k
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') =>
        {
            c.push(
                "url",
                "invalid_url",
                "the robot's key must be the one WeCom gave (letters, digits, - and _); a masked key cannot be sent to",
            )
        }
        Some(_) => {}
    }
}

/// What a message tells of a notification: nothing of the resident.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub kind: Option<NotificationType>,
    pub street: Option<String>,
    pub grid: Option<String>,
    pub category: Option<String>,
    pub urgency: Option<Urgency>,
    /// When the resident wants the service, stored instants.
    pub window: (Option<String>, Option<String>),
    /// What the notification says (a reason, a deadline), blotted.
    pub note: Option<String>,
    /// The console's page of the demand or order.
    pub link: Option<String>,
}

/// The group's word for a notification's type.
pub fn title(kind: NotificationType) -> &'static str {
    match kind {
        NotificationType::DemandFiled => "新诉求",
        NotificationType::OrderOffered => "新派单",
        NotificationType::OfferWithdrawn => "派单已撤回",
        NotificationType::OrderAccepted => "已接单",
        NotificationType::OrderUnassigned => "无人接单",
        NotificationType::OrderCancelled => "订单已取消",
        NotificationType::OrderOverdue => "订单超时",
        NotificationType::DemandEscalated => "吹哨上报",
        NotificationType::OrderCompleted => "已办结",
        NotificationType::OrderRatedLow => "居民差评",
        NotificationType::PluginQuarantined => "匹配规则已隔离",
    }
}

fn urgency_label(u: Urgency) -> &'static str {
    match u {
        Urgency::Low => "低",
        Urgency::Normal => "一般",
        Urgency::High => "紧急",
        Urgency::Critical => "特急",
    }
}

/// Whether a type calls for the group's attention (shown in the warning colour).
fn alarming(kind: NotificationType) -> bool {
    matches!(
        kind,
        NotificationType::DemandEscalated
            | NotificationType::OrderOverdue
            | NotificationType::OrderUnassigned
            | NotificationType::OrderRatedLow
            | NotificationType::PluginQuarantined
    )
}

/// A stored instant in the street's local time, month to minute.
fn local(ts: &str) -> String {
    // An instant whose local time is past the last year time can name stays as stored.
    match super::parse_instant(ts).and_then(|t| t.checked_to_offset(LOCAL_OFFSET)) {
        Some(t) => {
            format!(
                "{:02}-{:02} {:02}:{:02}",
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        None => ts.to_string(),
    }
}

/// Free text as a group may read it: runs of [`DIGITS_BLOTTED`] digits or more become `***`,
/// markdown's own characters are dropped, lines are joined.
pub fn blot(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_ascii_digit() {
            // A run of digits, with single spaces or dashes inside it.
            let mut j = i;
            let mut digits = 0;
            let mut end = i;
            while j < chars.len() {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                    end = j + 1;
                } else if !(matches!(chars[j], ' ' | '-')
                    && j + 1 < chars.len()
                    && chars[j + 1].is_ascii_digit())
                {
                    break;
                }
                j += 1;
            }
            if digits >= DIGITS_BLOTTED {
                out.push_str("***");
            } else {
                out.extend(&chars[i..end]);
            }
            i = end;
            continue;
        }
        match chars[i] {
            '\n' | '\r' | '\t' => out.push(' '),
            '*' | '#' | '[' | ']' | '<' | '>' | '`' => {}
            ch => out.push(ch),
        }
        i += 1;
    }
    out.trim().to_string()
}

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The markdown of one notification's message.
pub fn message(f: &Facts) -> String {
    let kind = f.kind.map(title).unwrap_or("通知");
    let head = if f.kind.is_some_and(alarming) {
        format!("<font color=\"warning\">{kind}</font>")
    } else {
        kind.to_string()
    };
    let place = [f.street.as_deref(), f.grid.as_deref()]
        .into_iter()
        .flatten()
        .map(blot)
        .collect::<Vec<_>>()
        .join(" · ");
    let mut lines = vec![if place.is_empty() {
        format!("**{head}**")
    } else {
        format!("**{head}** {place}")
    }];
    if let Some(c) = &f.category {
        lines.push(format!("> 类别:{}", blot(c)));
    }
    if let Some(u) = f.urgency {
        let label = urgency_label(u);
        lines.push(match u {
            Urgency::High | Urgency::Critical => {
                format!("> 紧急程度:<font color=\"warning\">{label}</font>")
            }
            _ => format!("> 紧急程度:{label}"),
        });
    }
    match (&f.window.0, &f.window.1) {
        (Some(a), Some(b)) => lines.push(format!("> 期望时间:{} 至 {}", local(a), local(b))),
        (Some(a), None) => lines.push(format!("> 期望时间:{} 起", local(a))),
        (None, Some(b)) => lines.push(format!("> 期望时间:{} 前", local(b))),
        (None, None) => {}
    }
    let link = f
        .link
        .as_ref()
        .map(|l| format!("[查看详情]({l})"))
        .unwrap_or_default();
    let fixed: usize = lines.iter().map(|l| l.len() + 1).sum::<usize>() + link.len() + 16;
    if let Some(note) = f.note.as_deref().map(blot).filter(|n| !n.is_empty()) {
        let room = MAX_CONTENT_BYTES.saturating_sub(fixed + "> 说明:".len());
        lines.push(format!("> 说明:{}", cut(&note, room)));
    }
    if !link.is_empty() {
        lines.push(link);
    }
    lines.join("\n")
}

/// The markdown of the message that stands for `counts` notifications the robot's limit
/// would not take one by one.
pub fn summary(counts: &[(NotificationType, usize)], link: Option<&str>) -> String {
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    let mut lines = vec![format!(
        "**另有 {total} 条通知**(本群机器人每分钟最多 {PER_MINUTE} 条消息,已合并为一条)"
    )];
    for (kind, n) in counts {
        lines.push(format!("> {}:{n} 条", title(*kind)));
    }
    if let Some(l) = link {
        lines.push(format!("[在控制台查看]({l})"));
    }
    cut(&lines.join("\n"), MAX_CONTENT_BYTES)
}

/// The body a robot is posted: a markdown message.
pub fn body(content: &str) -> String {
    json!({ "msgtype": "markdown", "markdown": { "content": content } }).to_string()
}

/// What a robot's answer says beyond its HTTP status: WeCom answers 200 with `errcode` 0 when
/// it took the message, and 200 with another code when it did not. `None` when it took it
/// (or when the status already says it did not); else the refusal and its text.
pub fn read_answer(status: u16, body: &str) -> Option<(Refusal, String)> {
    if !(200..300).contains(&status) {
        return None;
    }
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.get("errcode"))
        .and_then(|c| c.as_i64());
    let said = parsed
        .as_ref()
        .and_then(|v| v.get("errmsg"))
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_string();
    match code {
        Some(0) => None,
        // The robot's own limit: try again once a minute has passed.
        Some(45009) => Some((
            Refusal::Later(60),
            format!("errcode 45009 (rate limited): {said}"),
        )),
        // The key names no robot (it was removed from the group): no message will be taken.
        Some(93000) => Some((
            Refusal::Gone,
            format!("errcode 93000 (no such robot): {said}"),
        )),
        Some(code) => Some((Refusal::Retry, format!("errcode {code}: {said}"))),
        None => Some((
            Refusal::Retry,
            "the answer carried no errcode; it is not a WeCom robot's".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_shown_in_local_time_or_as_stored_past_the_last_year() {
        assert_eq!(local("2026-05-02T01:30:00.000000Z"), "05-02 09:30");
        assert_eq!(
            local("9999-12-31T23:00:00.000000Z"),
            "9999-12-31T23:00:00.000000Z"
        );
    }

    #[test]
    fn phone_and_identity_numbers_are_blotted() {
        assert_eq!(blot("请联系 13812345678 张阿姨"), "请联系 *** 张阿姨");
        assert_eq!(blot("电话 138-1234-5678。"), "电话 ***。");
        assert_eq!(blot("身份证 11010519491231002X"), "身份证 ***X");
        assert_eq!(blot("座机 010 6512 3456"), "座机 ***");
        assert_eq!(blot("3 号楼 502 室,2 人"), "3 号楼 502 室,2 人");
        assert_eq!(blot("**粗体** [链接](x) <font>"), "粗体 链接(x) font");
        assert_eq!(blot("第一行\n第二行"), "第一行 第二行");
    }

    #[test]
    fn a_message_names_the_place_and_the_need_never_the_resident() {
        let f = Facts {
            kind: Some(NotificationType::DemandEscalated),
            street: Some("东华门街道".into()),
            grid: Some("第3网格".into()),
            category: Some("助餐".into()),
            urgency: Some(Urgency::High),
            window: (
                Some("2026-12-06T06:00:00Z".into()),
                Some("2026-12-06T08:00:00Z".into()),
            ),
            note: Some("没人接单,居民电话 13812345678".into()),
            link: Some("https://gj.example.cn/console/demands/1".into()),
        };
        let m = message(&f);
        assert!(m.starts_with("**<font color=\"warning\">吹哨上报</font>** 东华门街道 · 第3网格"));
        assert!(m.contains("> 类别:助餐"));
        assert!(m.contains("> 紧急程度:<font color=\"warning\">紧急</font>"));
        assert!(m.contains("> 期望时间:12-06 14:00 至 12-06 16:00"), "{m}");
        assert!(m.contains("居民电话 ***"));
        assert!(!m.contains("13812345678"));
        assert!(m.ends_with("[查看详情](https://gj.example.cn/console/demands/1)"));
    }

    #[test]
    fn a_long_note_is_cut_to_what_a_robot_takes() {
        let f = Facts {
            kind: Some(NotificationType::OrderRatedLow),
            note: Some("很".repeat(3000)),
            link: Some("https://gj.example.cn/console/demands/1".into()),
            ..Facts::default()
        };
        let m = message(&f);
        assert!(m.len() <= MAX_CONTENT_BYTES, "{}", m.len());
        assert!(m.contains('…'));
        assert!(m.ends_with(")"), "the link survives the cut");
    }

    #[test]
    fn a_summary_counts_by_type() {
        let s = summary(
            &[
                (NotificationType::DemandFiled, 9),
                (NotificationType::OrderOverdue, 2),
            ],
            Some("https://gj.example.cn/console/demands"),
        );
        assert!(s.starts_with("**另有 11 条通知**"), "{s}");
        assert!(s.contains("> 新诉求:9 条"));
        assert!(s.contains("> 订单超时:2 条"));
        let b: serde_json::Value = serde_json::from_str(&body(&s)).unwrap();
        assert_eq!(b["msgtype"], "markdown");
        assert_eq!(b["markdown"]["content"], s);
    }

    #[test]
    fn a_robots_answer_is_read_by_its_errcode() {
        assert!(read_answer(200, r#"{"errcode":0,"errmsg":"ok"}"#).is_none());
        assert!(matches!(
            read_answer(200, r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#),
            Some((Refusal::Later(60), _))
        ));
        assert!(matches!(
            read_answer(200, r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#),
            Some((Refusal::Gone, _))
        ));
        assert!(matches!(
            read_answer(200, r#"{"errcode":40008,"errmsg":"invalid message type"}"#),
            Some((Refusal::Retry, _))
        ));
        assert!(matches!(
            read_answer(200, "<html>"),
            Some((Refusal::Retry, _))
        ));
        assert!(read_answer(502, "").is_none(), "the status says it already");
    }

    #[test]
    fn a_robots_key_is_required_and_shown_masked() {
        let mut c = Check::new();
        check_robot_url(
            &mut c,
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx",
        );
        assert!(c.finish().is_ok());
        for bad in [
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a****",
        ] {
            let mut c = Check::new();
            check_robot_url(&mut c, bad);
            assert!(c.finish().is_err(), "{bad}");
        }
        assert_eq!(
            crate::domain::notification::EndpointChannel::Wecom
                .shown_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx"),
            "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a****"
        );
    }
}

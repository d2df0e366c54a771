//! Every text of the console, in one catalogue: Chinese first, English second. A text is a
//! field of [`Texts`], so a page cannot name a text that one locale lacks: both locales are
//! checked by the compiler.

use gongjian_core::domain::{access::RoleKind, DemandStatus, OrderStatus, Urgency};

/// The console's languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    /// The page's `lang`.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }

    pub fn from_tag(tag: &str) -> Option<Locale> {
        match tag {
            "zh-CN" | "zh" => Some(Locale::ZhCn),
            "en" => Some(Locale::En),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header asks for: English when the first language
    /// the console has is English, Chinese otherwise.
    pub fn from_accept_language(header: &str) -> Locale {
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut it = part.trim().split(';');
                let tag = it.next()?.trim();
                let q = it
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && q > 0.0).then_some((q, tag))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in ranked {
            let primary = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            match primary.as_str() {
                "zh" => return Locale::ZhCn,
                "en" => return Locale::En,
                _ => {}
            }
        }
        Locale::ZhCn
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Locale::ZhCn => &ZH_CN,
            Locale::En => &EN,
        }
    }
}

/// The texts of one locale.
pub struct Texts {
    pub product: &'static str,
    pub switch_language: &'static str,
    pub other_locale: &'static str,
    pub sign_in: &'static str,
    pub sign_in_intro: &'static str,
    pub sign_in_token: &'static str,
    pub sign_in_token_hint: &'static str,
    pub sign_in_failed: &'static str,
    pub sign_in_link_title: &'static str,
    pub sign_in_link_intro: &'static str,
    pub sign_in_link_confirm: &'static str,
    pub sign_in_link_invalid: &'static str,
    pub sign_out: &'static str,
    pub nav_orders: &'static str,
    pub nav_demands: &'static str,
    pub nav_new_demand: &'static str,
    pub nav_dashboard: &'static str,
    pub nav_people: &'static str,
    pub nav_district: &'static str,
    pub role_district_admin: &'static str,
    pub role_street_admin: &'static str,
    pub role_grid_worker: &'static str,
    pub role_unit: &'static str,
    pub role_volunteer: &'static str,
    pub orders_title: &'static str,
    pub orders_offered: &'static str,
    pub orders_active: &'static str,
    pub orders_history: &'static str,
    pub orders_none_offered: &'static str,
    pub orders_none_active: &'static str,
    pub orders_none_history: &'static str,
    pub order_resident: &'static str,
    pub order_because: &'static str,
    pub order_accept_by: &'static str,
    pub order_complete_by: &'static str,
    pub order_window: &'static str,
    pub order_accept: &'static str,
    pub order_decline: &'static str,
    pub order_decline_reason: &'static str,
    pub order_start: &'static str,
    pub order_complete: &'static str,
    pub order_minutes: &'static str,
    pub order_note: &'static str,
    pub order_points: &'static str,
    pub order_rating: &'static str,
    pub order_hours_total: &'static str,
    pub order_points_total: &'static str,
    pub demands_title: &'static str,
    pub demands_none: &'static str,
    pub demand_new_title: &'static str,
    pub demand_grid: &'static str,
    pub demand_category: &'static str,
    pub demand_urgency: &'static str,
    pub demand_resident_name: &'static str,
    pub demand_resident_phone: &'static str,
    pub demand_resident_address: &'static str,
    pub demand_description: &'static str,
    pub demand_window_start: &'static str,
    pub demand_window_end: &'static str,
    pub demand_file: &'static str,
    pub demand_filed_at: &'static str,
    pub demand_status: &'static str,
    pub demand_timeline: &'static str,
    pub demand_orders: &'static str,
    pub demand_assignee: &'static str,
    pub demand_rate: &'static str,
    pub demand_rate_comment: &'static str,
    pub demand_rated: &'static str,
    pub demand_flagged: &'static str,
    pub dashboard_title: &'static str,
    pub period_today: &'static str,
    pub period_week: &'static str,
    pub period_month: &'static str,
    pub fig_received: &'static str,
    pub fig_dispatched: &'static str,
    pub fig_completed: &'static str,
    pub fig_completion_rate: &'static str,
    pub fig_on_time_rate: &'static str,
    pub fig_satisfaction_rate: &'static str,
    pub fig_escalations: &'static str,
    pub fig_minutes_to_accept: &'static str,
    pub fig_minutes_to_complete: &'static str,
    pub fig_by_grid: &'static str,
    pub fig_name: &'static str,
    pub fig_none: &'static str,
    pub district_title: &'static str,
    pub district_street: &'static str,
    pub people_title: &'static str,
    pub people_volunteers: &'static str,
    pub people_staff: &'static str,
    pub people_issue_link: &'static str,
    pub people_issue_for_grid_worker: &'static str,
    pub people_issue_for_admin: &'static str,
    pub people_link_name: &'static str,
    pub link_issued_title: &'static str,
    pub link_issued_intro: &'static str,
    pub link_expires: &'static str,
    pub error_not_found: &'static str,
    pub error_forbidden: &'static str,
    pub error_conflict: &'static str,
    pub error_invalid: &'static str,
    pub error_internal: &'static str,
    pub error_forged: &'static str,
    pub back: &'static str,
    pub minutes: &'static str,
    pub none: &'static str,
    pub status_offered: &'static str,
    pub status_accepted: &'static str,
    pub status_in_progress: &'static str,
    pub status_completed: &'static str,
    pub status_cancelled: &'static str,
    pub status_unassigned: &'static str,
    pub status_open: &'static str,
    pub status_dispatched: &'static str,
    pub urgency_low: &'static str,
    pub urgency_normal: &'static str,
    pub urgency_high: &'static str,
    pub urgency_critical: &'static str,
    pub action_filed: &'static str,
    pub action_triaged: &'static str,
    pub action_dispatched: &'static str,
    pub action_offered: &'static str,
    pub action_declined: &'static str,
    pub action_accepted: &'static str,
    pub action_started: &'static str,
    pub action_completed: &'static str,
    pub action_cancelled: &'static str,
    pub action_rated: &'static str,
    pub action_escalated: &'static str,
    pub action_reopened: &'static str,
    pub action_unassigned: &'static str,
}

impl Texts {
    pub fn role(&self, role: RoleKind) -> &'static str {
        match role {
            RoleKind::DistrictAdmin => self.role_district_admin,
            RoleKind::StreetAdmin => self.role_street_admin,
            RoleKind::GridWorker => self.role_grid_worker,
            RoleKind::Unit => self.role_unit,
            RoleKind::Volunteer => self.role_volunteer,
        }
    }

    pub fn order_status(&self, s: &OrderStatus) -> &'static str {
        match s {
            OrderStatus::Offered => self.status_offered,
            OrderStatus::Accepted => self.status_accepted,
            OrderStatus::InProgress => self.status_in_progress,
            OrderStatus::Completed => self.status_completed,
            OrderStatus::Cancelled => self.status_cancelled,
            OrderStatus::Unassigned => self.status_unassigned,
        }
    }

    pub fn demand_status(&self, s: &DemandStatus) -> &'static str {
        match s {
            DemandStatus::Open => self.status_open,
            DemandStatus::Dispatched => self.status_dispatched,
            DemandStatus::InProgress => self.status_in_progress,
            DemandStatus::Completed => self.status_completed,
            DemandStatus::Cancelled => self.status_cancelled,
        }
    }

    /// What an event's action is called; an action the catalogue does not know shows as
    /// recorded.
    pub fn action<'a>(&self, code: &'a str) -> &'a str {
        match code {
            "filed" => self.action_filed,
            "triaged" => self.action_triaged,
            "dispatched" => self.action_dispatched,
            "offered" => self.action_offered,
            "declined" => self.action_declined,
            "accepted" => self.action_accepted,
            "started" => self.action_started,
            "completed" => self.action_completed,
            "cancelled" => self.action_cancelled,
            "rated" => self.action_rated,
            "escalated" => self.action_escalated,
            "reopened" => self.action_reopened,
            "unassigned" => self.action_unassigned,
            other => other,
        }
    }

    pub fn urgency(&self, u: &Urgency) -> &'static str {
        match u {
            Urgency::Low => self.urgency_low,
            Urgency::Normal => self.urgency_normal,
            Urgency::High => self.urgency_high,
            Urgency::Critical => self.urgency_critical,
        }
    }
}

pub static ZH_CN: Texts = Texts {
    product: "共建",
    switch_language: "English",
    other_locale: "en",
    sign_in: "登录",
    sign_in_intro: "请使用街道发给您的登录链接，或粘贴您的接口令牌。",
    sign_in_token: "接口令牌",
    sign_in_token_hint: "以 gj_ 开头",
    sign_in_failed: "令牌无效或已被撤销。",
    sign_in_link_title: "确认登录",
    sign_in_link_intro: "点击下方按钮登录。此链接只能使用一次。",
    sign_in_link_confirm: "确认登录",
    sign_in_link_invalid: "此登录链接已使用或已过期，请联系街道重新发放。",
    sign_out: "退出",
    nav_orders: "我的订单",
    nav_demands: "诉求",
    nav_new_demand: "登记诉求",
    nav_dashboard: "数据看板",
    nav_people: "人员与登录",
    nav_district: "全区",
    role_district_admin: "区管理员",
    role_street_admin: "街道管理员",
    role_grid_worker: "网格员",
    role_unit: "共建单位",
    role_volunteer: "志愿者",
    orders_title: "我的订单",
    orders_offered: "待接单",
    orders_active: "进行中",
    orders_history: "历史",
    orders_none_offered: "暂无待接的订单。",
    orders_none_active: "暂无进行中的订单。",
    orders_none_history: "暂无历史订单。",
    order_resident: "居民",
    order_because: "推荐理由",
    order_accept_by: "接单截止",
    order_complete_by: "完成期限",
    order_window: "服务时间",
    order_accept: "接单",
    order_decline: "拒单",
    order_decline_reason: "拒单原因",
    order_start: "开始服务",
    order_complete: "完成",
    order_minutes: "服务时长（分钟）",
    order_note: "备注",
    order_points: "积分",
    order_rating: "评价",
    order_hours_total: "累计服务时长（小时）",
    order_points_total: "累计积分",
    demands_title: "诉求",
    demands_none: "暂无诉求。",
    demand_new_title: "登记诉求",
    demand_grid: "网格",
    demand_category: "类别",
    demand_urgency: "紧急程度",
    demand_resident_name: "居民姓名",
    demand_resident_phone: "联系电话",
    demand_resident_address: "地址",
    demand_description: "诉求描述",
    demand_window_start: "期望开始时间",
    demand_window_end: "期望完成时间",
    demand_file: "提交",
    demand_filed_at: "登记时间",
    demand_status: "状态",
    demand_timeline: "处理记录",
    demand_orders: "服务订单",
    demand_assignee: "承接方",
    demand_rate: "代居民评价",
    demand_rate_comment: "评价内容",
    demand_rated: "已评价",
    demand_flagged: "差评待回访",
    dashboard_title: "数据看板",
    period_today: "今日",
    period_week: "本周",
    period_month: "本月",
    fig_received: "受理",
    fig_dispatched: "派单",
    fig_completed: "办结",
    fig_completion_rate: "办结率",
    fig_on_time_rate: "当日必达率",
    fig_satisfaction_rate: "满意率",
    fig_escalations: "吹哨",
    fig_minutes_to_accept: "接单用时中位数（分钟）",
    fig_minutes_to_complete: "办结用时中位数（分钟）",
    fig_by_grid: "按网格",
    fig_name: "名称",
    fig_none: "—",
    district_title: "全区街道",
    district_street: "街道",
    people_title: "人员与登录",
    people_volunteers: "志愿者",
    people_staff: "街道工作人员",
    people_issue_link: "发放登录链接",
    people_issue_for_grid_worker: "为网格员发放登录链接",
    people_issue_for_admin: "为街道管理员发放登录链接",
    people_link_name: "姓名",
    link_issued_title: "登录链接已生成",
    link_issued_intro: "请把链接发给本人，或让本人用手机扫描二维码。链接只能使用一次，仅此处显示。",
    link_expires: "有效期至",
    error_not_found: "页面不存在，或您无权查看。",
    error_forbidden: "您无权进行此操作。",
    error_conflict: "操作未能完成",
    error_invalid: "请检查填写的内容。",
    error_internal: "服务出现问题，请稍后再试。",
    error_forged: "请求来源无法验证，已拒绝。",
    back: "返回",
    minutes: "分钟",
    none: "无",
    status_offered: "待接单",
    status_accepted: "已接单",
    status_in_progress: "服务中",
    status_completed: "已完成",
    status_cancelled: "已取消",
    status_unassigned: "无人接单",
    status_open: "待派单",
    status_dispatched: "已派单",
    urgency_low: "低",
    urgency_normal: "一般",
    urgency_high: "紧急",
    urgency_critical: "特急",
    action_filed: "登记",
    action_triaged: "研判",
    action_dispatched: "派单",
    action_offered: "推送订单",
    action_declined: "拒单",
    action_accepted: "接单",
    action_started: "开始服务",
    action_completed: "完成",
    action_cancelled: "取消",
    action_rated: "评价",
    action_escalated: "吹哨上报",
    action_reopened: "重新打开",
    action_unassigned: "无人接单",
};

pub static EN: Texts = Texts {
    product: "Gongjian",
    switch_language: "中文",
    other_locale: "zh-CN",
    sign_in: "Sign in",
    sign_in_intro: "Use the sign-in link your street sent you, or paste your API token.",
    sign_in_token: "API token",
    sign_in_token_hint: "starts with gj_",
    sign_in_failed: "The token is unknown or revoked.",
    sign_in_link_title: "Confirm sign-in",
    sign_in_link_intro: "Press the button to sign in. This link works once.",
    sign_in_link_confirm: "Sign in",
    sign_in_link_invalid: "This sign-in link was used or has expired; ask your street for a new one.",
    sign_out: "Sign out",
    nav_orders: "My orders",
    nav_demands: "Demands",
    nav_new_demand: "File a demand",
    nav_dashboard: "Dashboard",
    nav_people: "People and sign-in",
    nav_district: "District",
    role_district_admin: "District admin",
    role_street_admin: "Street admin",
    role_grid_worker: "Grid worker",
    role_unit: "Co-building unit",
    role_volunteer: "Volunteer",
    orders_title: "My orders",
    orders_offered: "Offered to me",
    orders_active: "In hand",
    orders_history: "History",
    orders_none_offered: "Nothing offered to you now.",
    orders_none_active: "No order in hand.",
    orders_none_history: "No past orders.",
    order_resident: "Resident",
    order_because: "Why you",
    order_accept_by: "Accept by",
    order_complete_by: "Complete by",
    order_window: "When",
    order_accept: "Accept",
    order_decline: "Decline",
    order_decline_reason: "Reason for declining",
    order_start: "Start",
    order_complete: "Complete",
    order_minutes: "Minutes of service",
    order_note: "Note",
    order_points: "Points",
    order_rating: "Rating",
    order_hours_total: "Hours of service",
    order_points_total: "Points",
    demands_title: "Demands",
    demands_none: "No demands.",
    demand_new_title: "File a demand",
    demand_grid: "Grid",
    demand_category: "Category",
    demand_urgency: "Urgency",
    demand_resident_name: "Resident's name",
    demand_resident_phone: "Phone",
    demand_resident_address: "Address",
    demand_description: "What is needed",
    demand_window_start: "Wanted from",
    demand_window_end: "Wanted by",
    demand_file: "File",
    demand_filed_at: "Filed",
    demand_status: "Status",
    demand_timeline: "Timeline",
    demand_orders: "Orders",
    demand_assignee: "Served by",
    demand_rate: "Rate for the resident",
    demand_rate_comment: "Comment",
    demand_rated: "Rated",
    demand_flagged: "Low rating: follow up",
    dashboard_title: "Dashboard",
    period_today: "Today",
    period_week: "This week",
    period_month: "This month",
    fig_received: "Received",
    fig_dispatched: "Dispatched",
    fig_completed: "Completed",
    fig_completion_rate: "Completion rate",
    fig_on_time_rate: "On time",
    fig_satisfaction_rate: "Satisfaction",
    fig_escalations: "Escalations",
    fig_minutes_to_accept: "Median minutes to accept",
    fig_minutes_to_complete: "Median minutes to complete",
    fig_by_grid: "By grid",
    fig_name: "Name",
    fig_none: "—",
    district_title: "Streets of the district",
    district_street: "Street",
    people_title: "People and sign-in",
    people_volunteers: "Volunteers",
    people_staff: "Street staff",
    people_issue_link: "Issue a sign-in link",
    people_issue_for_grid_worker: "Sign-in link for a grid worker",
    people_issue_for_admin: "Sign-in link for a street admin",
    people_link_name: "Name",
    link_issued_title: "Sign-in link issued",
    link_issued_intro: "Send the link to the person, or let them scan the QR code. It works once and is shown only here.",
    link_expires: "Valid until",
    error_not_found: "This page does not exist, or you may not see it.",
    error_forbidden: "You may not do this.",
    error_conflict: "That could not be done",
    error_invalid: "Please check what you entered.",
    error_internal: "Something went wrong; please try again later.",
    error_forged: "The request's origin could not be verified; it was refused.",
    back: "Back",
    minutes: "min",
    none: "none",
    status_offered: "Offered",
    status_accepted: "Accepted",
    status_in_progress: "In progress",
    status_completed: "Completed",
    status_cancelled: "Cancelled",
    status_unassigned: "No one took it",
    status_open: "Open",
    status_dispatched: "Dispatched",
    urgency_low: "Low",
    urgency_normal: "Normal",
    urgency_high: "High",
    urgency_critical: "Critical",
    action_filed: "Filed",
    action_triaged: "Triaged",
    action_dispatched: "Dispatched",
    action_offered: "Offered",
    action_declined: "Declined",
    action_accepted: "Accepted",
    action_started: "Started",
    action_completed: "Completed",
    action_cancelled: "Cancelled",
    action_rated: "Rated",
    action_escalated: "Escalated",
    action_reopened: "Reopened",
    action_unassigned: "No one took it",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_first_language_the_console_has() {
        assert_eq!(Locale::from_accept_language("en-US,en;q=0.9"), Locale::En);
        assert_eq!(
            Locale::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Locale::ZhCn
        );
        assert_eq!(
            Locale::from_accept_language("fr-FR,en;q=0.5,zh;q=0.4"),
            Locale::En
        );
        assert_eq!(
            Locale::from_accept_language("zh;q=0.3,en;q=0.7"),
            Locale::En
        );
        assert_eq!(Locale::from_accept_language("de"), Locale::ZhCn);
        assert_eq!(Locale::from_accept_language(""), Locale::ZhCn);
        assert_eq!(Locale::from_accept_language("en;q=0,zh"), Locale::ZhCn);
    }
}

//! The street both plugin benchmarks rank.

use gongjian_plugin_sdk::{
    builder::{CandidateSpec, DemandSpec, OwnedRequest, RequestBuilder},
    CandidateKind,
};

/// A street of `n` candidates: four in five volunteers, the rest resources, spread over 36
/// grids in 9 communities, with a mix of skills, loads, ratings and availability.
pub fn street(n: usize) -> OwnedRequest {
    let demand = DemandSpec {
        category: "repair".into(),
        category_label: "维修服务".into(),
        tags: vec!["水管".into()],
        grid: "g-07".into(),
        community: "c-1".into(),
        ..DemandSpec::default()
    };
    let skills = [
        "维修", "陪护", "义诊", "书法", "水管", "法律", "辅导", "巡逻",
    ];
    let mut b = RequestBuilder::new("shixi", &demand, "", 1_767_000_000, 20);
    b.reserve(n);
    for i in 0..n {
        let grid = format!("g-{:02}", i % 36);
        let community = format!("c-{}", (i % 36) / 4);
        if i % 5 == 4 {
            b.push(&CandidateSpec {
                kind: CandidateKind::Resource,
                owned_by_unit: true,
                category: Some(["repair", "medical", "education"][i % 3].into()),
                owner_kind: Some("property_manager".into()),
                labels: vec![skills[i % skills.len()].into()],
                capacity_left: (i % 12) as u32,
                home_grid: grid,
                community,
                ..CandidateSpec::default()
            });
        } else {
            b.push(&CandidateSpec {
                home_grid: grid,
                community,
                team: Some(format!("队{}", i % 131)),
                labels: vec![
                    skills[i % skills.len()].into(),
                    skills[(i / 3) % skills.len()].into(),
                ],
                party_member: i % 3 == 0,
                availability_fits: i % 9 != 0,
                open_orders: (i % 4) as u32,
                max_open_orders: 3,
                average_rating: (i % 2 == 0).then_some(3.0 + (i % 3) as f32),
                ..CandidateSpec::default()
            });
        }
    }
    b.finish()
}

//! A street's dispatch settings, per category: automatic dispatch on filing, offers at once,
//! and the minutes to accept and to complete.

use super::Core;
use crate::domain::access::{Action, Principal, Target};
use crate::domain::settings::{
    choose_settings, CategorySettings, PutSettings, Settings, StreetSettings,
};
use crate::domain::{rules, Check};
use crate::store::{settings, streets};
use crate::{Error, Result};
use uuid::Uuid;

pub async fn list_settings(
    core: &Core,
    caller: &Principal,
    street: Uuid,
) -> Result<StreetSettings> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Read, Target::StreetArea(street))?;
    let stored = settings::stored_settings(core.db.read(), street, None).await?;
    let mut names: Vec<&String> = stored.keys().filter(|c| !c.is_empty()).collect();
    names.sort();
    let categories = names
        .into_iter()
        .map(|category| CategorySettings {
            settings: choose_settings(&stored, category),
            category: category.clone(),
        })
        .collect();
    Ok(StreetSettings {
        default: choose_settings(&stored, ""),
        categories,
    })
}

pub async fn put_settings(
    core: &Core,
    caller: &Principal,
    street: Uuid,
    category: String,
    body: PutSettings,
) -> Result<CategorySettings> {
    streets::require(core.db.read(), street).await?;
    caller.authorize(Action::Update, Target::StreetArea(street))?;
    let mut c = Check::new();
    c.range_i64("offer_count", body.offer_count, rules::OFFER_COUNT);
    c.range_i64("accept_minutes", body.accept_minutes, rules::ACCEPT_MINUTES);
    if let Some(m) = body.complete_minutes {
        c.range_i64("complete_minutes", m, rules::COMPLETE_MINUTES);
    }
    c.finish()?;
    let stored = if category == "default" {
        String::new()
    } else {
        category.clone()
    };
    let put = Settings {
        auto_dispatch: body.auto_dispatch,
        offer_count: body.offer_count,
        accept_minutes: body.accept_minutes,
        complete_minutes: body.complete_minutes,
    };
    let now = core.now_ts();
    let category_name = category.clone();
    let settings = core
        .db
        .transact(move |tx| {
            Box::pin(async move {
                if !stored.is_empty()
                    && !streets::category_exists(&mut **tx, street, &stored).await?
                {
                    return Err(Error::field(
                        "category",
                        "unknown_category",
                        format!("{category:?} is not a category of this street"),
                    ));
                }
                settings::put(tx, street, &stored, &put, &now).await?;
                settings::settings_for(&mut **tx, street, &stored).await
            })
        })
        .await?;
    Ok(CategorySettings {
        category: category_name,
        settings,
    })
}

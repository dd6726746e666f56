//! Where letter, e-mail and SMS templates live beside the scenarios, and whether one exists
//! and compiles. Layout: `<scenarios>/templates/<template>/<channel>.<language>.hbs`.
//! Rendering belongs to correspondence; this module finds templates and checks them (compiled,
//! then rendered in strict mode against correspondence's sample context).

use std::path::{Path, PathBuf};

use super::Channel;

#[derive(Debug, Clone)]
pub struct TemplateDir {
    pub root: PathBuf,
}

impl TemplateDir {
    pub fn new(scenarios_dir: &Path) -> TemplateDir {
        TemplateDir {
            root: scenarios_dir.join("templates"),
        }
    }

    pub fn path(&self, template: &str, channel: Channel, language: &str) -> PathBuf {
        self.root
            .join(template)
            .join(format!("{}.{language}.hbs", channel.template_name()))
    }

    /// Checks that the template exists and compiles in strict mode. The error names the
    /// template file (with line and column when handlebars knows them).
    pub fn check(&self, template: &str, channel: Channel, language: &str) -> Result<(), String> {
        let path = self.path(template, channel, language);
        let text = std::fs::read_to_string(&path).map_err(|_| {
            format!(
                "template `{template}` has no {} version in language `{language}` (expected the file templates/{template}/{}.{language}.hbs)",
                channel.as_str(),
                channel.template_name()
            )
        })?;
        compile(&text).map_err(|e| {
            format!(
                "template templates/{template}/{}.{language}.hbs does not compile: {e}",
                channel.template_name()
            )
        })?;
        // Strict mode: rendered against a sample context, a variable templates do not have
        // is an error here rather than a gap in a letter.
        crate::correspondence::check_text(&text, template, channel, language).map_err(|e| {
            format!(
                "template templates/{template}/{}.{language}.hbs:{e}",
                channel.template_name()
            )
        })
    }
}

/// Compiles a handlebars template; the error says where inside it.
pub fn compile(text: &str) -> Result<(), String> {
    handlebars::Template::compile(text)
        .map(|_| ())
        .map_err(|e| match e.pos() {
            Some((line, col)) => format!("{line}:{col}: {}", e.reason()),
            None => e.reason().to_string(),
        })
}

/// Renders a short text (a task title) over the condition context; a title that does not
/// render is shown as written rather than lost.
pub fn render_title(template: &str, ctx: &super::ConditionContext) -> String {
    let mut hb = handlebars::Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    let data = serde_json::to_value(ctx).unwrap_or_default();
    hb.render_template(template, &data)
        .unwrap_or_else(|_| template.to_string())
}

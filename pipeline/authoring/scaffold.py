"""`publish init` and `publish new`: starting points an editor fills in. Never overwrites.

`publish init` also draws a plain WeChat cover (the newsletter's title on a solid
background, 2.35:1) into ``assets/wechat-cover.png`` and names it as the WeChat channel's
``default_cover``: a WeChat article cannot go out without a cover, and a new editor should
not be stopped by that before designing one.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import PublishError
from pipeline.load.examples import ENTRY_TEMPLATE, ISSUE_TEMPLATE
from pipeline.load.folders import validate_issue_id

NEWSLETTER_TITLE = "我的论文速递"  # site.title in CONFIG_TEMPLATE, drawn on the generated cover
COVER_PATH = "assets/wechat-cover.png"

CONFIG_TEMPLATE = """\
# Newsletter settings. Every key is documented in the README ("Configuration").
# Relative paths are relative to this file's folder. ${NAME} reads NAME from the environment.
site:
  title: 我的论文速递                  # newsletter name: page, feed and sender name
  url: https://digest.example.org/     # where the archive will be served (absolute)
  language: zh-CN                      # <html lang>, feed language
  author: 编辑部                        # default author of feeds and WeChat articles
  description: 每期精选几篇新论文，附中文导读。
  timezone: Asia/Shanghai              # for publish_at values without an offset
  publish_time: "08:00"                # default time of day an issue is due

paths:
  issues: issues                       # one folder per issue: YYYY-MM-DD[-slug]
  templates: templates                 # your overrides of the packaged templates
  output: public                       # what `publish build` writes
  state: .publish/state.db             # the publishing ledger

channels:
  feed:
    type: feed
    items: 20                          # newest issues kept in rss.xml / atom.xml / feed.json
  email:
    type: email
    from: 我的论文速递 <digest@example.org>
    subscribers: subscribers.csv       # columns: email,name[,status]
    maildir: outbox/maildir            # without an smtp: block, mail goes to this Maildir
    # smtp:                            # uncomment to send through a real relay
    #   host: smtp.example.org
    #   port: 587
    #   security: starttls
    #   username: ${SMTP_USERNAME}
    #   password: ${SMTP_PASSWORD}
  wechat:
    type: wechat
    # export: a page to paste into the mp.weixin.qq.com editor (every account). To use the API
    # (a verified account), set mode: draft, publish or broadcast and uncomment app_id/app_secret.
    mode: export
    default_cover: assets/wechat-cover.png  # the cover of issues without their own `cover:`; replace it with yours
    # app_id: ${WECHAT_APP_ID}
    # app_secret: ${WECHAT_APP_SECRET}

schedule:
  poll: 60                             # seconds between scheduler passes
  catch_up: 2d                         # older unsent issues are not sent automatically
"""

SUBSCRIBERS_TEMPLATE = "email,name,status\nreader@example.org,示例读者,active\n"


def _create(path: Path, content: str | bytes, created: list[Path]) -> None:
    if path.exists():
        raise PublishError(f"{path} already exists; nothing was overwritten")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    except OSError as exc:  # a read-only disk, a file where a folder should be, no permission
        raise PublishError(
            f"cannot create {path}: {exc.strerror or exc}", hint="choose a folder you can write to"
        ) from None
    created.append(path)


def _blocking_file(directory: Path) -> Path | None:
    """``directory`` or the first of its parents that exists as something other than a folder."""
    for path in (directory, *directory.parents):
        if path.exists():
            return None if path.is_dir() else path
    return None


# The state folder holds the subscriber list and the unsubscribe key: a `git add .` must not take it.
GITIGNORE_TEMPLATE = """\
# Written by publish: the state (subscribers, the unsubscribe key, the ledger), the built site,
# the outboxes and a build's temporary files. None of it belongs in the repository.
/.publish/
/public/
/outbox/
/.public.staging/
"""


def init_newsletter(directory: Path, today: date | None = None) -> list[Path]:
    """Create config.yaml, an example issue, a subscribers file, the WeChat cover and a .gitignore
    in ``directory``.

    Every file is checked before the first is written, so a refusal leaves nothing behind."""
    blocking = _blocking_file(directory)
    if blocking is not None:
        raise PublishError(
            f"{blocking} is a file, not a folder",
            hint="give a new folder name or an existing folder, e.g. `publish init my-digest`",
        )
    if (directory / "config.yaml").exists():
        raise PublishError(f"{directory / 'config.yaml'} already exists", hint="this folder is already a newsletter")
    from pipeline.render.cover import cover_png

    day = (today or date.today()).isoformat()
    files: dict[Path, str | bytes] = {
        directory / "config.yaml": CONFIG_TEMPLATE,
        directory / "subscribers.csv": SUBSCRIBERS_TEMPLATE,
        directory / "issues" / day / "issue.yaml": ISSUE_TEMPLATE.format(title=f"我的论文速递 · {day}"),
        directory / "issues" / day / "01-example.md": ENTRY_TEMPLATE,
        directory / COVER_PATH: cover_png(NEWSLETTER_TITLE),
    }
    if not (directory / ".gitignore").exists():  # a folder already under git keeps its own
        files[directory / ".gitignore"] = GITIGNORE_TEMPLATE
    existing = [path for path in files if path.exists()]
    if existing:
        raise PublishError(
            f"{existing[0]} already exists; nothing was written", hint="move it away or choose another folder"
        )
    created: list[Path] = []
    for path, text in files.items():
        _create(path, text, created)
    try:
        (directory / "templates").mkdir(exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create {directory / 'templates'}: {exc.strerror or exc}") from None
    return created


def new_issue(
    config: Config, day: str, slug: str | None = None, title: str | None = None, example: bool = True
) -> Path:
    """Create ``issues/DATE[-SLUG]/`` with issue.yaml and (unless ``example`` is False) one example entry."""
    issue_id = f"{day}-{slug}" if slug else day
    validate_issue_id(issue_id)
    folder = config.issues_dir / issue_id
    if folder.exists():
        raise PublishError(
            f"issue folder {folder} already exists", hint="pick another --slug for a second issue that day"
        )
    created: list[Path] = []
    heading = (title or f"{config.site.title} · {day}").replace('"', "'")
    _create(folder / "issue.yaml", ISSUE_TEMPLATE.format(title=f'"{heading}"'), created)
    if example:
        _create(folder / "01-example.md", ENTRY_TEMPLATE, created)
    return folder

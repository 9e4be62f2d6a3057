"""Texts of the foundation: menu, help, access, invites, settings, errors."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "welcome": "Hello, <b>{name}</b>! This is your CRM.\nLeads, deals, clients and activities, right in Telegram.",
        "menu.title": "<b>Main menu</b>",
        "menu.counters": "🔴 Overdue: {overdue} · 📅 Today: {today} · 📥 Incoming: {incoming} · 💤 Idle: {idle}",
        "menu.new": "➕ New lead",
        "menu.today": "📅 Today",
        "menu.kanban": "📊 Kanban",
        "menu.leads": "🎯 Leads",
        "menu.deals": "💼 Deals",
        "menu.contacts": "👤 Contacts",
        "menu.companies": "🏢 Companies",
        "menu.activities": "🗂 Activities",
        "menu.calendar": "🗓 Calendar",
        "menu.find": "🔍 Find",
        "menu.admin": "🛠 Admin",
        "menu.help": "❓ Help",
        "menu.settings": "⚙️ Settings",
        "menu.invite": "➕ Invite a colleague",
        "menu.back": "⬅️ Back",
        "help": (
            "<b>What this bot does</b>\n"
            "A CRM in Telegram: capture leads in one message, move them through the pipeline, "
            "convert them into deals, contacts and companies, comment, plan calls and meetings, "
            "and get reminders where you already are.\n\n"
            "<b>Commands</b>\n{commands}"
        ),
        "not_registered": (
            "Hello! This is a private CRM of a sales team. Access needs an invite: "
            "ask your administrator for an invite link."
        ),
        "deactivated": "Your access to this CRM has been switched off. Ask your administrator.",
        "cancelled": "Cancelled.",
        "not_understood": "I don't know what to do with «{quote}». Choose from the menu or see /help.",
        "nothing_to_cancel": "There is nothing to cancel.",
        "invite.choose_role": "Whom are you inviting? Choose a role:",
        "invite.created": (
            "Invite link for a <b>{role}</b>, single use, valid until {expires}:\n{link}\n\n"
            "Send it to your colleague: they open it and press Start."
        ),
        "invite.accepted": "Welcome aboard! You joined as <b>{role}</b>.",
        "invite.invalid.unknown": "This invite link is not valid. Ask your administrator for a new one.",
        "invite.invalid.used": "This invite link has already been used. Ask your administrator for a new one.",
        "invite.invalid.expired": "This invite link has expired. Ask your administrator for a new one.",
        "invite.admin_only": "Only an administrator can invite people.",
        "invite.new_user": "{name} joined the CRM as {role} with your invite.",
        "role.admin": "administrator",
        "role.head": "head of department",
        "role.salesperson": "salesperson",
        "error.access_denied": "You have no access to this.",
        "error.not_found": "Not found: it may have been deleted, or you have no access to it.",
        "error.conflict": "Someone changed this at the same time. Open it again and retry.",
        "error.validation_failed": "That does not look right: {detail}",
        "error.required_fields_missing": "Fill in the required fields first: {fields}",
        "error.limit_exceeded": "Limit reached: at most {limit}.",
        "error.generic": "Something went wrong. Please try again.",
        "error.stale_button": "This button is out of date.",
        "trimmed": "… (trimmed)",
        "cmd.start": "Start and main menu",
        "cmd.menu": "Main menu",
        "cmd.help": "What the bot does",
        "cmd.cancel": "Cancel the current action",
        "cmd.new": "New lead (or /new and the text)",
        "cmd.today": "My activities for today",
        "cmd.trash": "Deleted items",
        "cmd.settings": "Language and timezone",
        "cmd.invite": "Invite a colleague (admins)",
    },
    "ru": {
        "welcome": "Здравствуйте, <b>{name}</b>! Это ваша CRM.\nЛиды, сделки, клиенты и дела — прямо в Telegram.",
        "menu.title": "<b>Главное меню</b>",
        "menu.counters": "🔴 Просрочено: {overdue} · 📅 Сегодня: {today} · 📥 Входящие: {incoming} · 💤 Без дел: {idle}",
        "menu.new": "➕ Новый лид",
        "menu.today": "📅 Сегодня",
        "menu.kanban": "📊 Канбан",
        "menu.leads": "🎯 Лиды",
        "menu.deals": "💼 Сделки",
        "menu.contacts": "👤 Контакты",
        "menu.companies": "🏢 Компании",
        "menu.activities": "🗂 Дела",
        "menu.calendar": "🗓 Календарь",
        "menu.find": "🔍 Поиск",
        "menu.admin": "🛠 Админка",
        "menu.help": "❓ Помощь",
        "menu.settings": "⚙️ Настройки",
        "menu.invite": "➕ Пригласить коллегу",
        "menu.back": "⬅️ Назад",
        "help": (
            "<b>Что умеет бот</b>\n"
            "CRM в Telegram: лид одним сообщением, движение по стадиям воронки, конвертация "
            "в сделку, контакт и компанию, комментарии, звонки и встречи с напоминаниями там, "
            "где вы и так общаетесь.\n\n"
            "<b>Команды</b>\n{commands}"
        ),
        "not_registered": (
            "Здравствуйте! Это закрытая CRM отдела продаж. Для доступа нужно приглашение: "
            "попросите у администратора ссылку-приглашение."
        ),
        "deactivated": "Ваш доступ к CRM отключён. Обратитесь к администратору.",
        "cancelled": "Отменено.",
        "not_understood": "Не понимаю, что сделать с «{quote}». Выберите действие в меню или см. /help.",
        "nothing_to_cancel": "Отменять нечего.",
        "invite.choose_role": "Кого приглашаем? Выберите роль:",
        "invite.created": (
            "Ссылка-приглашение для роли «<b>{role}</b>», одноразовая, действует до {expires}:\n{link}\n\n"
            "Отправьте её коллеге: он откроет её и нажмёт «Запустить»."
        ),
        "invite.accepted": "Добро пожаловать! Вы подключены с ролью «<b>{role}</b>».",
        "invite.invalid.unknown": "Ссылка-приглашение недействительна. Попросите у администратора новую.",
        "invite.invalid.used": "Эта ссылка-приглашение уже использована. Попросите у администратора новую.",
        "invite.invalid.expired": "Срок действия ссылки истёк. Попросите у администратора новую.",
        "invite.admin_only": "Приглашать может только администратор.",
        "invite.new_user": "{name} подключился к CRM по вашему приглашению, роль: {role}.",
        "role.admin": "администратор",
        "role.head": "руководитель отдела",
        "role.salesperson": "менеджер по продажам",
        "error.access_denied": "У вас нет доступа к этому.",
        "error.not_found": "Не найдено: возможно, удалено или у вас нет доступа.",
        "error.conflict": "Кто-то изменил это одновременно с вами. Откройте заново и повторите.",
        "error.validation_failed": "Похоже, здесь ошибка: {detail}",
        "error.required_fields_missing": "Сначала заполните обязательные поля: {fields}",
        "error.limit_exceeded": "Достигнут предел: не более {limit}.",
        "error.generic": "Что-то пошло не так. Попробуйте ещё раз.",
        "error.stale_button": "Эта кнопка устарела.",
        "trimmed": "… (сокращено)",
        "cmd.start": "Запуск и главное меню",
        "cmd.menu": "Главное меню",
        "cmd.help": "Что умеет бот",
        "cmd.cancel": "Отменить текущее действие",
        "cmd.new": "Новый лид (или /new и текст)",
        "cmd.today": "Мои дела на сегодня",
        "cmd.trash": "Корзина",
        "cmd.settings": "Язык и часовой пояс",
        "cmd.invite": "Пригласить коллегу (админ)",
    },
}

"""Texts of /settings (language, timezone, reminders, digest, notifications) and /admin."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "cmd.admin": "Administration (admins)",
        # --- /settings
        "settings.title": (
            "⚙️ <b>Settings</b>\n"
            "🌐 Language: {language}\n"
            "🕒 Timezone: {timezone}\n"
            "🔔 Default reminders: {reminders}\n"
            "☀️ Daily digest: {digest}\n"
            "🔕 Muted notifications: {muted}"
        ),
        "settings.language": "🌐 Language: English",
        "settings.language_set": "Language: English.",
        "settings.btn.timezone": "🕒 Timezone",
        "settings.btn.reminders": "🔔 Reminders",
        "settings.btn.digest": "☀️ Daily digest",
        "settings.btn.notifications": "🔕 Notifications",
        "settings.btn.back": "⬅️ Back",
        "settings.btn.cancel": "✖️ Cancel",
        "settings.btn.save": "💾 Save",
        "settings.btn.type_tz": "⌨️ Type a timezone name",
        "settings.btn.type_time": "⌨️ Type a time",
        "settings.none": "none",
        "settings.tz.title": (
            "🕒 <b>Timezone</b>\nNow: {timezone}\n\n"
            "Choose one below, or type its IANA name (for example Asia/Tokyo)."
        ),
        "settings.tz.ask": (
            "Type the timezone name, for example <code>Europe/Moscow</code> or <code>Asia/Tokyo</code>:"
        ),
        "settings.tz.bad": (
            "I don't know the timezone «{value}». Type an IANA name like <code>Europe/Moscow</code>, "
            "or press Cancel."
        ),
        "settings.tz.set": "Timezone: {timezone}.",
        "settings.rem.title": (
            "🔔 <b>Default reminders</b>\n"
            "For your new activities (and open ones that use the defaults).\n"
            "Chosen: {reminders}\n\nTap to switch on or off, then Save."
        ),
        "settings.rem.at": "at the deadline",
        "settings.rem.min": "{n} min before",
        "settings.rem.hour": "{n} h before",
        "settings.rem.day": "{n} d before",
        "settings.rem.saved": "Reminders saved.",
        "settings.digest.value": "{time}, {days}",
        "settings.digest.workdays": "working days only",
        "settings.digest.every_day": "every day",
        "settings.digest.title": (
            "☀️ <b>Daily digest</b>\nEvery morning: your counters and today's activities.\n"
            "Now: {digest}\n\nChoose a time or type one (HH:MM)."
        ),
        "settings.digest.btn.workdays_on": "📅 Working days only: on",
        "settings.digest.btn.workdays_off": "📅 Working days only: off",
        "settings.digest.ask": "Type the time of the digest as HH:MM, for example <code>08:45</code>:",
        "settings.digest.bad": (
            "«{value}» is not a time. Type it as HH:MM, for example <code>08:45</code>, or press Cancel."
        ),
        "settings.digest.set": "Daily digest at {time}.",
        "settings.mute.title": (
            "🔕 <b>Notifications</b>\n🔔 — you receive them, 🔕 — muted.\nTap a kind to switch it."
        ),
        "settings.mute.muted": "Muted: {category}",
        "settings.mute.unmuted": "On again: {category}",
        "settings.cat.responsible_assigned": "You became responsible",
        "settings.cat.observer_added": "Added as an observer",
        "settings.cat.mentioned": "Mentions",
        "settings.cat.task_assigned": "New tasks",
        "settings.cat.task_status_changed": "Task status changes",
        "settings.cat.lead_assigned": "New leads for you",
        "settings.cat.reminder": "Activity reminders",
        "settings.cat.overdue": "Overdue notices",
        "settings.cat.digest": "Daily digest",
        "settings.cat.comment_added": "New comments",
        "settings.cat.activity_assigned": "Activities planned for you",
        "settings.cat.other": "Other news",
        # --- /admin
        "adm.only": "This section is for administrators only.",
        "adm.title": "🛠 <b>Administration</b>\nChoose a section:",
        "adm.btn.users": "👥 Users",
        "adm.btn.invites": "✉️ Invites",
        "adm.btn.pipelines": "🧭 Pipelines and stages",
        "adm.btn.required": "❗ Required fields",
        "adm.btn.back": "⬅️ Back",
        "adm.btn.cancel": "✖️ Cancel",
        "adm.btn.next": "Next ➡️",
        "adm.btn.prev": "⬅️ Prev",
        "adm.btn.save": "💾 Save",
        "adm.btn.rename": "✏️ Rename",
        "adm.btn.yes_delete": "🗑 Yes, delete",
        "adm.users.title": "👥 <b>Users</b>: {total}\nTap a person to change the role, department or access.",
        "adm.user.card": (
            "👤 <b>{name}</b>{username}\nRole: {role}\nDepartment: {department}\nAccess: {status}"
        ),
        "adm.user.active": "✅ active",
        "adm.user.inactive": "🚫 switched off",
        "adm.user.no_department": "—",
        "adm.user.you": " (you)",
        "adm.btn.department": "🏢 Change department",
        "adm.btn.deactivate": "🚫 Deactivate",
        "adm.btn.reactivate": "✅ Reactivate",
        "adm.btn.yes_deactivate": "🚫 Yes, deactivate",
        "adm.user.confirm_deactivate": (
            "Switch off access for <b>{name}</b>? They will no longer be able to use the bot; "
            "their items stay in the CRM."
        ),
        "adm.user.role_set": "Role: {role}.",
        "adm.user.deactivated": "Access switched off.",
        "adm.user.reactivated": "Access switched on again.",
        "adm.last_admin": "You are the last administrator: appoint another administrator first.",
        "adm.dept.title": "🏢 <b>Department of {name}</b>\nNow: {department}",
        "adm.dept.none": "— No department",
        "adm.dept.new": "➕ New department",
        "adm.dept.ask": "Type the name of the new department:",
        "adm.dept.set": "Department: {department}.",
        "adm.inv.title": "✉️ <b>Active invites</b>",
        "adm.inv.none": "No active invites.",
        "adm.inv.line": "{n}. {role}, valid until {expires}, by {author}\n{link}",
        "adm.inv.new": "➕ New invite",
        "adm.inv.revoke": "❌ Revoke {n}",
        "adm.inv.revoked": "Invite revoked: the link no longer works.",
        "adm.pl.title": "🧭 <b>Pipelines</b>\nTap a pipeline to edit its stages.",
        "adm.pl.leads": "🎯 Leads: {name}",
        "adm.pl.deals": "💼 Deals: {name}",
        "adm.pl.new": "➕ New deal pipeline",
        "adm.pl.ask_new": "Type the name of the new deal pipeline:",
        "adm.pl.ask_rename": "Type the new name of the pipeline «{name}»:",
        "adm.pl.header": "<b>{kind}: {name}</b>",
        "adm.pl.kind.lead": "Lead pipeline",
        "adm.pl.kind.deal": "Deal pipeline",
        "adm.pl.group.process": "<i>In progress</i>",
        "adm.pl.group.success": "<i>Won</i>",
        "adm.pl.group.failure": "<i>Lost</i>",
        "adm.pl.stage_line": "{emoji} {name} · {count}",
        "adm.pl.add_stage": "➕ Add stage",
        "adm.pl.created": "Pipeline created.",
        "adm.pl.renamed": "Pipeline renamed.",
        "adm.st.card": (
            "{emoji} <b>{name}</b>\nPipeline: {pipeline}\nKind: {semantics}\nColour: {color}\nItems on it: "
            "{count}"
        ),
        "adm.sem.process": "in progress",
        "adm.sem.success": "won (success)",
        "adm.sem.failure": "lost (failure)",
        "adm.st.up": "⬆️ Up",
        "adm.st.down": "⬇️ Down",
        "adm.st.colour": "🎨 Colour",
        "adm.st.delete": "🗑 Delete",
        "adm.st.colour_title": "🎨 Choose a colour for <b>{name}</b>:",
        "adm.st.ask_rename": "Type the new name of the stage «{name}»:",
        "adm.st.ask_name": "Type the name of the new stage:",
        "adm.st.ask_semantics": "What kind of stage is «{name}»?",
        "adm.st.sem_process": "🔄 In progress",
        "adm.st.sem_failure": "❌ Lost (failure)",
        "adm.st.confirm_delete": "Delete the stage <b>{name}</b>?",
        "adm.st.deleted": "Stage deleted.",
        "adm.st.renamed": "Stage renamed.",
        "adm.st.added": "Stage added.",
        "adm.st.not_empty": (
            "The stage «{name}» still holds {count} item(s): move them to another stage first."
        ),
        "adm.st.keep_success": "The won (success) stage cannot be deleted: a pipeline needs exactly one.",
        "adm.st.keep_failure": "This is the last lost (failure) stage: a pipeline needs at least one.",
        "adm.st.keep_process": "This is the last in-progress stage: a pipeline needs at least one.",
        "adm.colour.blue": "🔵 Blue",
        "adm.colour.green": "🟢 Green",
        "adm.colour.yellow": "🟡 Yellow",
        "adm.colour.orange": "🟠 Orange",
        "adm.colour.red": "🔴 Red",
        "adm.colour.purple": "🟣 Purple",
        "adm.colour.brown": "🟤 Brown",
        "adm.colour.grey": "⚫ Grey",
        "adm.name_bad": "The name cannot be empty. Type it again, or press Cancel.",
        "adm.rf.title": "❗ <b>Required fields</b>\nChoose the item type (or a deal pipeline):",
        "adm.rf.type.lead": "🎯 Leads",
        "adm.rf.type.deal": "💼 Deals (all pipelines)",
        "adm.rf.type.contact": "👤 Contacts",
        "adm.rf.type.company": "🏢 Companies",
        "adm.rf.pipeline": "💼 Deals: {name}",
        "adm.rf.edit": "❗ <b>Required fields: {scope}</b>\nChosen: {fields}\n\nTap to switch, then Save.",
        "adm.rf.also": "Also required in every deal pipeline: {fields}",
        "adm.rf.saved": "Required fields saved.",
        "adm.field.title": "Title",
        "adm.field.name": "First name",
        "adm.field.last_name": "Last name",
        "adm.field.second_name": "Middle name",
        "adm.field.company_title": "Company name",
        "adm.field.position": "Position",
        "adm.field.source": "Source",
        "adm.field.comment": "Comment",
        "adm.field.amount": "Amount",
        "adm.field.contact_id": "Contact",
        "adm.field.company_id": "Company",
        "adm.field.phone": "Phone",
        "adm.field.email": "Email",
        "adm.field.begin_date": "Start date",
        "adm.field.close_date": "Close date",
        "adm.field.industry": "Industry",
    },
    "ru": {
        "cmd.admin": "Администрирование (админ)",
        # --- /settings
        "settings.title": (
            "⚙️ <b>Настройки</b>\n"
            "🌐 Язык: {language}\n"
            "🕒 Часовой пояс: {timezone}\n"
            "🔔 Напоминания по умолчанию: {reminders}\n"
            "☀️ Утренняя сводка: {digest}\n"
            "🔕 Отключённые уведомления: {muted}"
        ),
        "settings.language": "🌐 Язык: русский",
        "settings.language_set": "Язык: русский.",
        "settings.btn.timezone": "🕒 Часовой пояс",
        "settings.btn.reminders": "🔔 Напоминания",
        "settings.btn.digest": "☀️ Утренняя сводка",
        "settings.btn.notifications": "🔕 Уведомления",
        "settings.btn.back": "⬅️ Назад",
        "settings.btn.cancel": "✖️ Отмена",
        "settings.btn.save": "💾 Сохранить",
        "settings.btn.type_tz": "⌨️ Ввести название пояса",
        "settings.btn.type_time": "⌨️ Ввести время",
        "settings.none": "нет",
        "settings.tz.title": (
            "🕒 <b>Часовой пояс</b>\nСейчас: {timezone}\n\n"
            "Выберите из списка или введите название IANA (например, Asia/Tokyo)."
        ),
        "settings.tz.ask": (
            "Введите название часового пояса, например <code>Europe/Moscow</code> или "
            "<code>Asia/Tokyo</code>:"
        ),
        "settings.tz.bad": (
            "Не знаю часовой пояс «{value}». Введите название IANA, например <code>Europe/Moscow</code>, "
            "или нажмите «Отмена»."
        ),
        "settings.tz.set": "Часовой пояс: {timezone}.",
        "settings.rem.title": (
            "🔔 <b>Напоминания по умолчанию</b>\n"
            "Для ваших новых дел (и открытых дел с настройками по умолчанию).\n"
            "Выбрано: {reminders}\n\nНажимайте, чтобы включить или выключить, затем «Сохранить»."
        ),
        "settings.rem.at": "в момент срока",
        "settings.rem.min": "за {n} мин",
        "settings.rem.hour": "за {n} ч",
        "settings.rem.day": "за {n} дн.",
        "settings.rem.saved": "Напоминания сохранены.",
        "settings.digest.value": "{time}, {days}",
        "settings.digest.workdays": "только по рабочим дням",
        "settings.digest.every_day": "каждый день",
        "settings.digest.title": (
            "☀️ <b>Утренняя сводка</b>\nКаждое утро: ваши счётчики и дела на сегодня.\n"
            "Сейчас: {digest}\n\nВыберите время или введите своё (ЧЧ:ММ)."
        ),
        "settings.digest.btn.workdays_on": "📅 Только рабочие дни: да",
        "settings.digest.btn.workdays_off": "📅 Только рабочие дни: нет",
        "settings.digest.ask": "Введите время сводки в формате ЧЧ:ММ, например <code>08:45</code>:",
        "settings.digest.bad": (
            "«{value}» — не время. Введите в формате ЧЧ:ММ, например <code>08:45</code>, или нажмите "
            "«Отмена»."
        ),
        "settings.digest.set": "Утренняя сводка в {time}.",
        "settings.mute.title": (
            "🔕 <b>Уведомления</b>\n🔔 — приходят, 🔕 — отключены.\nНажмите на вид уведомлений, чтобы "
            "переключить."
        ),
        "settings.mute.muted": "Отключено: {category}",
        "settings.mute.unmuted": "Снова включено: {category}",
        "settings.cat.responsible_assigned": "Вас назначили ответственным",
        "settings.cat.observer_added": "Вас добавили в наблюдатели",
        "settings.cat.mentioned": "Упоминания",
        "settings.cat.task_assigned": "Новые задачи",
        "settings.cat.task_status_changed": "Смена статуса задач",
        "settings.cat.lead_assigned": "Новые лиды для вас",
        "settings.cat.reminder": "Напоминания о делах",
        "settings.cat.overdue": "Просроченные дела",
        "settings.cat.digest": "Утренняя сводка",
        "settings.cat.comment_added": "Новые комментарии",
        "settings.cat.activity_assigned": "Дела, запланированные для вас",
        "settings.cat.other": "Прочие новости",
        # --- /admin
        "adm.only": "Этот раздел доступен только администраторам.",
        "adm.title": "🛠 <b>Администрирование</b>\nВыберите раздел:",
        "adm.btn.users": "👥 Сотрудники",
        "adm.btn.invites": "✉️ Приглашения",
        "adm.btn.pipelines": "🧭 Воронки и стадии",
        "adm.btn.required": "❗ Обязательные поля",
        "adm.btn.back": "⬅️ Назад",
        "adm.btn.cancel": "✖️ Отмена",
        "adm.btn.next": "Следующие ➡️",
        "adm.btn.prev": "⬅️ Предыдущие",
        "adm.btn.save": "💾 Сохранить",
        "adm.btn.rename": "✏️ Переименовать",
        "adm.btn.yes_delete": "🗑 Да, удалить",
        "adm.users.title": (
            "👥 <b>Сотрудники</b>: {total}\nНажмите на человека, чтобы изменить роль, отдел или доступ."
        ),
        "adm.user.card": ("👤 <b>{name}</b>{username}\nРоль: {role}\nОтдел: {department}\nДоступ: {status}"),
        "adm.user.active": "✅ включён",
        "adm.user.inactive": "🚫 отключён",
        "adm.user.no_department": "—",
        "adm.user.you": " (вы)",
        "adm.btn.department": "🏢 Сменить отдел",
        "adm.btn.deactivate": "🚫 Отключить доступ",
        "adm.btn.reactivate": "✅ Включить доступ",
        "adm.btn.yes_deactivate": "🚫 Да, отключить",
        "adm.user.confirm_deactivate": (
            "Отключить доступ сотруднику <b>{name}</b>? Он больше не сможет пользоваться ботом; "
            "его лиды, сделки и дела останутся в CRM."
        ),
        "adm.user.role_set": "Роль: {role}.",
        "adm.user.deactivated": "Доступ отключён.",
        "adm.user.reactivated": "Доступ снова включён.",
        "adm.last_admin": "Вы — последний администратор: сначала назначьте другого администратора.",
        "adm.dept.title": "🏢 <b>Отдел сотрудника {name}</b>\nСейчас: {department}",
        "adm.dept.none": "— Без отдела",
        "adm.dept.new": "➕ Новый отдел",
        "adm.dept.ask": "Введите название нового отдела:",
        "adm.dept.set": "Отдел: {department}.",
        "adm.inv.title": "✉️ <b>Действующие приглашения</b>",
        "adm.inv.none": "Действующих приглашений нет.",
        "adm.inv.line": "{n}. {role}, действует до {expires}, создал(а) {author}\n{link}",
        "adm.inv.new": "➕ Новое приглашение",
        "adm.inv.revoke": "❌ Отозвать {n}",
        "adm.inv.revoked": "Приглашение отозвано: ссылка больше не работает.",
        "adm.pl.title": "🧭 <b>Воронки</b>\nНажмите на воронку, чтобы настроить её стадии.",
        "adm.pl.leads": "🎯 Лиды: {name}",
        "adm.pl.deals": "💼 Сделки: {name}",
        "adm.pl.new": "➕ Новая воронка сделок",
        "adm.pl.ask_new": "Введите название новой воронки сделок:",
        "adm.pl.ask_rename": "Введите новое название воронки «{name}»:",
        "adm.pl.header": "<b>{kind}: {name}</b>",
        "adm.pl.kind.lead": "Воронка лидов",
        "adm.pl.kind.deal": "Воронка сделок",
        "adm.pl.group.process": "<i>В работе</i>",
        "adm.pl.group.success": "<i>Успех</i>",
        "adm.pl.group.failure": "<i>Провал</i>",
        "adm.pl.stage_line": "{emoji} {name} · {count}",
        "adm.pl.add_stage": "➕ Добавить стадию",
        "adm.pl.created": "Воронка создана.",
        "adm.pl.renamed": "Воронка переименована.",
        "adm.st.card": (
            "{emoji} <b>{name}</b>\nВоронка: {pipeline}\nТип: {semantics}\nЦвет: {color}\nЭлементов на "
            "стадии: {count}"
        ),
        "adm.sem.process": "в работе",
        "adm.sem.success": "успех",
        "adm.sem.failure": "провал",
        "adm.st.up": "⬆️ Выше",
        "adm.st.down": "⬇️ Ниже",
        "adm.st.colour": "🎨 Цвет",
        "adm.st.delete": "🗑 Удалить",
        "adm.st.colour_title": "🎨 Выберите цвет стадии <b>{name}</b>:",
        "adm.st.ask_rename": "Введите новое название стадии «{name}»:",
        "adm.st.ask_name": "Введите название новой стадии:",
        "adm.st.ask_semantics": "Какая это стадия — «{name}»?",
        "adm.st.sem_process": "🔄 В работе",
        "adm.st.sem_failure": "❌ Провал",
        "adm.st.confirm_delete": "Удалить стадию <b>{name}</b>?",
        "adm.st.deleted": "Стадия удалена.",
        "adm.st.renamed": "Стадия переименована.",
        "adm.st.added": "Стадия добавлена.",
        "adm.st.not_empty": (
            "На стадии «{name}» ещё есть элементы ({count}): сначала переведите их на другую стадию."
        ),
        "adm.st.keep_success": "Успешную стадию удалить нельзя: в воронке должна быть ровно одна.",
        "adm.st.keep_failure": "Это последняя стадия провала: в воронке должна быть хотя бы одна.",
        "adm.st.keep_process": "Это последняя стадия «в работе»: в воронке должна быть хотя бы одна.",
        "adm.colour.blue": "🔵 Синий",
        "adm.colour.green": "🟢 Зелёный",
        "adm.colour.yellow": "🟡 Жёлтый",
        "adm.colour.orange": "🟠 Оранжевый",
        "adm.colour.red": "🔴 Красный",
        "adm.colour.purple": "🟣 Фиолетовый",
        "adm.colour.brown": "🟤 Коричневый",
        "adm.colour.grey": "⚫ Серый",
        "adm.name_bad": "Название не может быть пустым. Введите ещё раз или нажмите «Отмена».",
        "adm.rf.title": "❗ <b>Обязательные поля</b>\nВыберите тип (или воронку сделок):",
        "adm.rf.type.lead": "🎯 Лиды",
        "adm.rf.type.deal": "💼 Сделки (все воронки)",
        "adm.rf.type.contact": "👤 Контакты",
        "adm.rf.type.company": "🏢 Компании",
        "adm.rf.pipeline": "💼 Сделки: {name}",
        "adm.rf.edit": (
            "❗ <b>Обязательные поля: {scope}</b>\nВыбрано: {fields}\n\nНажимайте, чтобы переключить, затем "
            "«Сохранить»."
        ),
        "adm.rf.also": "Кроме того, обязательны во всех воронках сделок: {fields}",
        "adm.rf.saved": "Обязательные поля сохранены.",
        "adm.field.title": "Название",
        "adm.field.name": "Имя",
        "adm.field.last_name": "Фамилия",
        "adm.field.second_name": "Отчество",
        "adm.field.company_title": "Название компании",
        "adm.field.position": "Должность",
        "adm.field.source": "Источник",
        "adm.field.comment": "Комментарий",
        "adm.field.amount": "Сумма",
        "adm.field.contact_id": "Контакт",
        "adm.field.company_id": "Компания",
        "adm.field.phone": "Телефон",
        "adm.field.email": "E-mail",
        "adm.field.begin_date": "Дата начала",
        "adm.field.close_date": "Дата завершения",
        "adm.field.industry": "Сфера деятельности",
    },
}

"""Fill the site with realistic content through Wagtail's own APIs.

``manage.py seed_site [--articles N] [--seed S]``: editors and moderators, image and document
collections, images (PNG made with Pillow), documents, a news index with N articles (StreamField
bodies, tags, feed images; most published, some drafts with several revisions), redirects and
search query statistics. Wagtail's signals fill its search index (the SQLite FTS tables), the
reference index and the audit log as they would on a real site. Run once on a fresh database.
"""

import datetime
import io
import random

from django.contrib.auth.models import Group, User
from django.core.files.base import ContentFile
from django.core.files.images import ImageFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from PIL import Image as PillowImage
from wagtail.contrib.redirects.models import Redirect
from wagtail.documents.models import Document
from wagtail.images.models import Image
from wagtail.models import Collection, Page, Site
from wagtail.contrib.search_promotions.models import Query, SearchPromotion

from home.models import ArticleIndexPage, ArticlePage, HomePage

WORDS = (
    "Stadt Fluss Brücke Markt Schule Garten Museum Bahnhof Kirche Rathaus Hafen Wald Straße Platz "
    "μουσείο θάλασσα πόλη 東京 京都 café naïve façade Zürich Ålesund Łódź São Paulo Kraków "
    "council budget festival library museum harbour railway market school garden bridge river"
).split()
TAGS = ("kultur", "politik", "sport", "verkehr", "wetter", "ελληνικά", "日本", "events", "news", "ünïcödé")


def sentence(rng, words=12):
    text = " ".join(rng.choice(WORDS) for _unused in range(words))
    return text[:1].upper() + text[1:] + "."


def png(rng, width, height):
    image = PillowImage.new("RGB", (width, height), tuple(rng.randrange(256) for _unused in range(3)))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Create editors, images, documents, articles, redirects and search statistics."

    def add_arguments(self, parser):
        parser.add_argument("--articles", type=int, default=300)
        parser.add_argument("--seed", type=int, default=16)

    def handle(self, *args, **options):
        if ArticlePage.objects.exists():
            raise CommandError("the site is already seeded (articles exist): start from a fresh database")
        rng = random.Random(options["seed"])
        with transaction.atomic():
            users = self.users(rng)
            images, documents = self.media(rng)
        home = HomePage.objects.first() or Site.objects.get(is_default_site=True).root_page.specific
        news = home.add_child(instance=ArticleIndexPage(title="News", slug="news", intro="<p>Neuigkeiten</p>"))
        news.save_revision(user=users[0]).publish()
        articles = []
        for number in range(1, options["articles"] + 1):
            articles.append(self.article(rng, news, number, users, images, documents))
        for number, article in enumerate(articles[:40], start=1):
            Redirect.objects.create(old_path="/old/article-%d" % number, redirect_page=article)
        Redirect.objects.create(old_path="/impressum-alt", redirect_link="https://example.com/impressum")
        for term in ("zürich", "museum", "東京", "festival", "café"):
            query = Query.get(term)
            for _unused in range(rng.randrange(1, 20)):
                query.add_hit()
            SearchPromotion.objects.create(query=query, page=rng.choice(articles), description=sentence(rng, 6))
        self.stdout.write(
            "seed_site: users=%d images=%d documents=%d articles=%d pages=%d"
            % (len(users), len(images), len(documents), len(articles), Page.objects.count())
        )

    def users(self, rng):
        editors, moderators = Group.objects.get(name="Editors"), Group.objects.get(name="Moderators")
        admin = User.objects.create_superuser("admin", "admin@example.com", "admin-%d" % rng.randrange(10**9))
        users = [admin]
        for number, (first, last) in enumerate(
            (("Jürgen", "Müller"), ("Ελένη", "Παπαδοπούλου"), ("花子", "山田"), ("Zoë", "O'Brien")) * 5, start=1
        ):
            user = User.objects.create_user(
                "editor%02d" % number, "editor%02d@example.com" % number, None, first_name=first, last_name=last
            )
            user.groups.add(editors if number % 3 else moderators)
            users.append(user)
        return users

    def media(self, rng):
        root = Collection.get_first_root_node()
        photos = root.add_child(name="Fotos")
        files = root.add_child(name="Dokumente & Pläne")
        images = []
        for number in range(1, 31):
            width, height = rng.choice(((64, 48), (120, 80), (32, 32)))
            image = Image(title="Bild %d: %s" % (number, rng.choice(WORDS)), collection=photos,
                          file=ImageFile(io.BytesIO(png(rng, width, height)), name="bild-%02d.png" % number))
            image.save()
            image.tags.add(rng.choice(TAGS))
            images.append(image)
        documents = []
        for number in range(1, 11):
            document = Document(title="Protokoll %d" % number, collection=files,
                                file=ContentFile(sentence(rng, 200).encode(), name="protokoll-%02d.txt" % number))
            document.save()
            documents.append(document)
        return images, documents

    def article(self, rng, parent, number, users, images, documents):
        body = [{"type": "heading", "value": sentence(rng, 4)}]
        for _unused in range(rng.randrange(1, 5)):
            body.append({"type": "paragraph", "value": "<p>%s <b>%s</b></p>" % (sentence(rng, 30), sentence(rng, 5))})
        body.append({"type": "image", "value": rng.choice(images).pk})
        if number % 3 == 0:
            body.append({"type": "quote", "value": sentence(rng, 8)})
        article = ArticlePage(
            title="%s %d" % (sentence(rng, 3)[:-1], number),
            slug="artikel-%d" % number,
            date=datetime.date(2020, 1, 1) + datetime.timedelta(days=number * 3),
            intro=sentence(rng, 15)[:250],
            body=body,
            feed_image=rng.choice(images) if number % 4 else None,
            owner=rng.choice(users),
        )
        parent.add_child(instance=article)
        article.tags.add(*rng.sample(TAGS, rng.randrange(0, 3)))
        user = rng.choice(users)
        if number % 10 == 0:  # a draft that was never published, edited twice
            article.save_revision(user=user)
            article.title += " (Entwurf)"
            article.save_revision(user=user)
            Page.objects.filter(pk=article.pk).update(live=False)
        else:
            article.save_revision(user=user).publish(user=users[0])  # the editor writes, an admin publishes
        return article

"""The example issue and entry that `publish init` and `publish new` write.

They live in the load stage because the loader must recognise them: example text left in an
issue would reach every reader, so :mod:`pipeline.load.text` finds it (read from these
templates once per process) and the publisher refuses the issue until it is written.

The example paper is one that neither the README's examples nor the bundled archive use, so
that following the README (`publish add … 2409.14274`) on a fresh scaffold, or scaffolding an
issue in this repository, never meets an "already featured" paper.
"""

ISSUE_TEMPLATE = """\
title: {title}
summary: 用一两句话概括本期内容：它会成为邮件预览文字、订阅源摘要和微信摘要。
intro: |
  本期导语：为什么选了这几篇论文。
outro: |
  欢迎转发给需要的朋友。
tags: [大模型]
draft: true        # remove this line when the issue is ready to publish
"""

ENTRY_TEMPLATE = """\
---
title: "Attention Is All You Need"
title_translated: 注意力机制就是全部所需
authors: [A Vaswani, N Shazeer, N Parmar]
venue: "arXiv preprint arXiv:1706.03762"
year: 2017
arxiv: "1706.03762"
rating: 8
tags: [Transformer, 大模型]
---
一两句话的导语：这篇论文做了什么。

## 研究背景

为什么这个问题重要。

## 问题与挑战

现有方法卡在哪里。

## 如何解决

- 方法要点一
- 方法要点二

## 实验效果

关键数字与结论。

## 推荐理由

为什么值得读。
"""

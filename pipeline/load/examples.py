"""The example issue and entry that `publish init` and `publish new` write.

They live in the load stage because the loader must recognise them: example text left in an
issue would reach every reader, so :mod:`pipeline.load.text` finds it (read from these
templates once per process) and the publisher refuses the issue until it is written.

The example paper is one that no example in the README uses, so that following the README
(`publish add … 2409.14274`) on a fresh scaffold never collides with it.
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
title: "SnapKV: LLM Knows What You are Looking for Before Generation"
title_translated: SnapKV：生成之前就知道该看哪些上下文
authors: [Y Li, Y Huang, B Yang]
venue: "arXiv preprint arXiv:2404.14469"
year: 2024
arxiv: "2404.14469"
rating: 8
tags: [长上下文, 大模型]
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

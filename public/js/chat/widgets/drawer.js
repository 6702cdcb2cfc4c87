// @ts-check
/** On narrow screens the sidebar is a drawer opened from the conversation header. */
export class Drawer {
  /**
   * @param {HTMLElement} root @param {HTMLElement} sidebar @param {HTMLButtonElement} toggle
   * @param {HTMLButtonElement} closeButton @param {HTMLElement} backdrop
   */
  constructor(root, sidebar, toggle, closeButton, backdrop) {
    this.root = root;
    this.sidebar = sidebar;
    this.toggle = toggle;
    this.backdrop = backdrop;
    toggle.addEventListener('click', () => (this.isOpen ? this.close() : this.open()));
    closeButton.addEventListener('click', () => this.close());
    backdrop.addEventListener('click', () => this.close());
    sidebar.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.isOpen) this.close();
    });
  }

  get isOpen() {
    return this.root.classList.contains('sidebar-open');
  }

  open() {
    this.root.classList.add('sidebar-open');
    this.backdrop.hidden = false;
    this.toggle.setAttribute('aria-expanded', 'true');
    const current = this.sidebar.querySelector('[aria-current="true"]') ?? this.sidebar.querySelector('.nav-item');
    if (current instanceof HTMLElement) current.focus();
  }

  /** @param {boolean} [returnFocus] */
  close(returnFocus = true) {
    if (!this.isOpen) return;
    this.root.classList.remove('sidebar-open');
    this.backdrop.hidden = true;
    this.toggle.setAttribute('aria-expanded', 'false');
    if (returnFocus) this.toggle.focus();
  }
}
